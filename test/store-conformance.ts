import { afterEach, describe, expect, it } from 'vitest';
import type { JobStore, StoreContext } from '../src/core/store.js';
import { createJobValidator } from '../src/core/validate.js';
import type { Job } from '../src/protocol/job.js';
import { parseEventId } from '../src/protocol/wire.js';

/**
 * The behaviour every JobStore promises. A store runs it by calling
 * `describeStoreConformance(name, factory)`, where `factory()` returns a store over fresh storage and
 * `reopen(store)` returns a new store over the same storage (the same instance, for memoryStore).
 */
export function describeStoreConformance(
  name: string,
  factory: () => Promise<{ create(): JobStore; cleanup?(): Promise<void> }>,
) {
  describe(`${name} store conformance`, () => {
    let cleanup: (() => Promise<void>) | undefined;
    afterEach(async () => {
      await cleanup?.();
      cleanup = undefined;
    });

    const validator = createJobValidator();
    const errors: Error[] = [];
    const context: StoreContext = { parseJob: validator.storedJob, onError: (error) => errors.push(error) };

    async function setup() {
      const made = await factory();
      cleanup = made.cleanup;
      return made;
    }

    function job(id: string, version: number, state: Job['state'] = 'running'): Job {
      const at = new Date(Date.UTC(2026, 10, 28, 12, 0, version)).toISOString();
      return {
        id,
        category: 'sync-push',
        target: { peer: 'peer-a' },
        scope: 'admin',
        state,
        phase: 'transferring',
        progress: version / 10,
        message: `step ${version}`,
        data: { n: version },
        queuedAt: at,
        startedAt: at,
        finishedAt: null,
        updatedAt: at,
        version,
      };
    }

    it('opens empty storage with nothing in it and a head at sequence 0', async () => {
      const { create } = await setup();
      const store = create();
      expect(await store.open(context)).toEqual({ jobs: [], skipped: 0, repaired: false });
      expect(parseEventId(store.head())).toMatchObject({ major: 0 });
      expect(store.health()).toMatchObject({ ok: true, error: null });
      await store.close();
    });

    it('assigns increasing event ids of one epoch, and the head follows', async () => {
      const { create } = await setup();
      const store = create();
      await store.open(context);
      const ids = [store.save(job('a', 1)), store.save(job('a', 2)), store.save(job('b', 1))];
      const parsed = ids.map((id) => parseEventId(id));
      expect(parsed.map((id) => id?.major)).toEqual([1, 2, 3]);
      expect(new Set(parsed.map((id) => id?.epoch)).size).toBe(1);
      expect(store.head()).toBe(ids[2]);
      await store.close();
    });

    it('gives back the newest snapshot of each job after a reopen, in a new epoch', async () => {
      const { create } = await setup();
      const first = create();
      await first.open(context);
      const firstId = first.save(job('a', 1));
      first.save(job('a', 2));
      first.save(job('b', 1, 'pending'));
      first.save(job('c', 1));
      first.remove(['c']);
      await first.flush();
      await first.close();

      const second = create();
      const loaded = await second.open(context);
      const byId = Object.fromEntries(loaded.jobs.map((loadedJob) => [loadedJob.id, loadedJob]));
      expect(Object.keys(byId).sort()).toEqual(['a', 'b']);
      expect(byId.a).toEqual(job('a', 2));
      expect(byId.b).toEqual(job('b', 1, 'pending'));
      expect(parseEventId(second.save(job('a', 3)))?.epoch).not.toBe(parseEventId(firstId)?.epoch);
      await second.close();
    });

    it('refuses to be opened twice at once', async () => {
      const { create } = await setup();
      const store = create();
      await store.open(context);
      await expect(store.open(context)).rejects.toThrow(/already open/);
      await store.close();
    });

    it('closes twice without harm, and flush resolves when there is nothing to write', async () => {
      const { create } = await setup();
      const store = create();
      await store.open(context);
      await store.flush();
      await store.close();
      await store.close();
    });
  });
}
