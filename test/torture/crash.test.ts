import { type ChildProcess, fork } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRegistry, RESTART_MESSAGE } from '../../src/index.js';
import { jsonlStore } from '../../src/stores/jsonl.js';
import { bundleFixture } from '../support/bundle.js';

const KILLS = 20;
type Flushed = { id: string; state: string; version: number };

describe('SIGKILL during JSONL write bursts', () => {
  let dir: string;
  let child: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rj-crash-'));
    // The child runs the library's TypeScript source; bundled once so plain `node` can fork it.
    child = await bundleFixture(new URL('./fixtures/crash-child.ts', import.meta.url));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`loads after each of ${KILLS} kills on the same file and never loses a flushed job`, async () => {
    const path = join(dir, 'jobs.jsonl');
    // What the children reported as flushed: the newest flushed snapshot of each job.
    const promised = new Map<string, Flushed>();
    let repairs = 0;
    for (let round = 0; round < KILLS; round++) {
      const proc = fork(child, [path], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      let stderr = '';
      proc.stderr?.on('data', (chunk) => {
        stderr += chunk;
      });
      const killAfter = 1 + (round % 4);
      await new Promise<void>((resolve, reject) => {
        let batches = 0;
        proc.on('message', (message: { type: string; jobs?: Flushed[] }) => {
          if (message.type !== 'flushed') return;
          for (const job of message.jobs ?? []) promised.set(job.id, job);
          if (++batches === killAfter) {
            // Kill a moment later, while the next burst is being written.
            setTimeout(() => {
              proc.kill('SIGKILL');
            }, round % 3);
          }
        });
        proc.on('exit', (code, signal) => {
          if (signal === 'SIGKILL') resolve();
          else reject(new Error(`child exited with ${code}: ${stderr}`));
        });
      });
      await waitExit(proc);

      // The next start: the dead process's lock is taken over and the log loads.
      const store = jsonlStore({ path });
      const jobs = await createJobRegistry({ store, onError: () => {} });
      const health = jobs.health();
      if (health.store.skipped > 0) repairs++;
      const lost: string[] = [];
      for (const flushed of promised.values()) {
        const job = jobs.get(flushed.id);
        if (!job || job.version < flushed.version) {
          lost.push(`${flushed.id} (flushed v${flushed.version}, loaded ${job ? `v${job.version}` : 'nothing'})`);
          continue;
        }
        // Never left busy: what was queued or running is finished as an error, saying why.
        if (flushed.state === 'queued' || flushed.state === 'running') {
          // (The children never finish a job they left queued or running.)
          if (job.state !== 'error' || job.message !== RESTART_MESSAGE) {
            lost.push(`${flushed.id} was ${flushed.state}, loaded as ${job.state}: ${job.message}`);
          }
        } else if (job.state !== flushed.state) {
          lost.push(`${flushed.id} was ${flushed.state}, loaded as ${job.state}`);
        }
        promised.set(job.id, { id: job.id, state: job.state, version: job.version });
      }
      expect(lost, `round ${round}`).toEqual([]);
      expect(health.busy).toBe(0);
      await jobs.close();
    }
    expect(promised.size).toBeGreaterThan(KILLS * 20);
    // Every line of the final file is a whole JSON object: repairs left no torn line behind.
    const text = await readFile(path, 'utf8');
    for (const line of text.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    console.info(`crash torture: ${promised.size} jobs, ${repairs} of ${KILLS} loads skipped a torn line`);
  }, 120_000); // 20 process starts: about 10 s on a quiet machine, much longer on a busy one
});

function waitExit(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => proc.once('exit', () => resolve()));
}
