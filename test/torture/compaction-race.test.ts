import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRegistry, type Job } from '../../src/index.js';
import { jsonlStore } from '../../src/stores/jsonl.js';
import { times } from '../support/times.js';

// Found by the persistence benchmark: snapshots saved while a compaction was writing its temporary
// file were dropped from the log once the compaction finished.
describe('updates that arrive while the JSONL log compacts', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rj-compact-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('are all on disk after flush, and come back after a restart', async () => {
    const path = join(dir, 'jobs.jsonl');
    const store = jsonlStore({ path, maxLines: 20 });
    const jobs = await createJobRegistry({ store, onError: () => {} });
    const ids = await times(30, async (i) => (await jobs.enqueue({ category: 'race', target: { n: `${i}` } })).id);
    // Keep changing jobs on every turn of the event loop while compactions (far past 20 lines) run.
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 5; i++) {
        const id = ids[(round * 5 + i) % ids.length] as string;
        await jobs.update(id, { progress: (round % 100) / 100, message: `round ${round}` });
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    await store.flush();
    expect(jobs.health().ok).toBe(true);

    const onDisk = new Map<string, number>();
    for (const line of (await readFile(path, 'utf8')).split('\n').filter(Boolean)) {
      const job = JSON.parse(line) as Job;
      onDisk.set(job.id, Math.max(onDisk.get(job.id) ?? 0, job.version));
    }
    const behind = ids.filter((id) => onDisk.get(id) !== jobs.get(id)?.version);
    expect(behind.map((id) => `${id}: file v${onDisk.get(id)}, memory v${jobs.get(id)?.version}`)).toEqual([]);

    const expected = ids.map((id) => jobs.get(id));
    await jobs.close();
    const reopened = await createJobRegistry({ store: jsonlStore({ path }), onError: () => {} });
    // Closing finished the queued jobs as errors; the log must hold exactly what memory held.
    for (const [i, id] of ids.entries()) expect(reopened.get(id)?.version).toBe((expected[i]?.version ?? 0) + 1);
    await reopened.close();
  });
});
