import assert from 'node:assert/strict';
import type { JobEvent, JobStore, StoreContext, StoreLoad } from '../core/store.js';
import { createJobValidator } from '../core/validate.js';
import type { Job, JobState } from '../protocol/job.js';
import { comparePositions, parseEventId } from '../protocol/wire.js';
import type { StoreConformanceStorage, StoreConformanceTarget } from './store-conformance.js';

// What the conformance cases stand on: a harness that opens stores and records what they report,
// sample jobs and assertions. Shipped with the suite (`realtime-jobs/testing`), so it depends on
// nothing but node:assert: no test runner's helpers.

/** Log lines each job keeps in the suite: small, so the cases see old lines go. */
export const LOG_LINES = 5;

/** Opens stores over one storage and records what each one's context receives. */
export class Harness {
  readonly #stores: JobStore[] = [];
  readonly #validator = createJobValidator();

  private constructor(readonly storage: StoreConformanceStorage) {}

  static async start(target: StoreConformanceTarget): Promise<Harness> {
    return new Harness(await target.storage());
  }

  context(events: JobEvent[]): StoreContext {
    return {
      parseJob: this.#validator.storedJob,
      parseLogLine: this.#validator.storedLogLine,
      logLines: LOG_LINES,
      onError: () => {},
      onEvent: (event) => {
        events.push(event);
      },
      onOrphan: () => {},
      onReset: () => {},
    };
  }

  async open(): Promise<{ store: JobStore; load: StoreLoad; events: JobEvent[] }> {
    const store = await this.storage.store();
    const events: JobEvent[] = [];
    const load = await store.open(this.context(events));
    this.#stores.push(store);
    return { store, load, events };
  }

  async cleanup(): Promise<void> {
    for (const store of this.#stores) await store.close().catch(() => {});
    await this.storage.cleanup?.();
  }
}

export function assertAfter(later: string, earlier: string): void {
  const a = parseEventId(later);
  const b = parseEventId(earlier);
  assert.ok(a && b, `${later} and ${earlier} must be event ids`);
  assert.equal(a.epoch, b.epoch, `${later} and ${earlier} must share an epoch`);
  assert.ok(comparePositions(a, b) > 0, `${later} must come after ${earlier}`);
}

export async function waitUntil(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A valid job snapshot; the same arguments always give an equal one. */
export function sample(id: string, version: number, state: JobState = 'running'): Job {
  const at = new Date(Date.UTC(2026, 10, 28, 12, 0, 0, version)).toISOString();
  return {
    id,
    category: 'sync-push',
    target: { peer: 'peer-a' },
    scope: 'admin',
    state,
    phase: 'transferring',
    progress: state === 'success' ? 1 : Math.min(version / 1000, 1),
    message: `step ${version}`,
    data: { n: version },
    result: state === 'success' ? { done: true } : null,
    error: null,
    attempt: state === 'queued' || state === 'pending' ? 0 : 1,
    maxAttempts: 1,
    retryOf: null,
    key: null,
    queuedAt: new Date(Date.UTC(2026, 10, 28, 12)).toISOString(),
    startedAt: state === 'queued' || state === 'pending' ? null : at,
    finishedAt: state === 'success' ? at : null,
    updatedAt: at,
    version,
  };
}
