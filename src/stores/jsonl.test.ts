import { readFileSync, readlinkSync } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  mkdtemp,
  open,
  readdir,
  readFile,
  realpath,
  rm,
  rmdir,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { createJobRegistry, RESTART_MESSAGE } from '../core/registry.js';
import { jsonlStore } from './jsonl.js';

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'realtime-jobs-jsonl-'));
  path = join(dir, 'jobs.jsonl');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const lines = async () => (await readFile(path, 'utf8')).split('\n').filter(Boolean);

describe('jsonlStore', () => {
  it('appends one line per change, batched off the caller, and restores after a restart', async () => {
    const jobs = await createJobRegistry({ store: jsonlStore({ path }) });
    const job = await jobs.enqueue({ category: 'sync-push', target: { peer: 'b' } });
    await jobs.update(job.id, { state: 'running', progress: 0.5 });
    const done = await jobs.update(job.id, { state: 'success' });
    // Nothing is written synchronously: the caller never waits on the disk.
    expect(readFileSync(path, 'utf8')).toBe('');
    await jobs.close();
    expect((await lines()).map((line) => JSON.parse(line).version)).toEqual([1, 2, 3]);

    const again = await createJobRegistry({ store: jsonlStore({ path }) });
    expect(again.get(job.id)).toEqual(done);
    await again.close();
  });

  it('compacts past maxLines through a temporary file, keeping the newest snapshot of each job', async () => {
    const jobs = await createJobRegistry({ store: jsonlStore({ path, maxLines: 20 }) });
    const a = await jobs.enqueue({ category: 'c' });
    const b = await jobs.enqueue({ category: 'c' });
    for (let i = 1; i <= 60; i++) {
      await jobs.update(i % 2 ? a.id : b.id, { progress: i / 100 });
      if (i % 7 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(async () => (await lines()).length <= 20, 'a compaction to at most 20 lines');
    await jobs.close();
    expect(await readdir(dir)).toEqual(['jobs.jsonl']);
    const again = await createJobRegistry({ store: jsonlStore({ path }) });
    expect(again.get(a.id)?.progress).toBe(0.59);
    expect(again.get(b.id)?.progress).toBe(0.6);
    await again.close();
  });

  it('skips torn and invalid lines, reports how many, and repairs the tail', async () => {
    const good = await createJobRegistry({ store: jsonlStore({ path }) });
    const kept = await good.enqueue({ category: 'c', state: 'pending' });
    await good.close();
    const text = await readFile(path, 'utf8');
    await writeFile(path, `not json\n${text}{"id":"x","category":"c"}\n\n{"id":"torn","cat`);

    const errors: Error[] = [];
    const jobs = await createJobRegistry({ store: jsonlStore({ path }), onError: (error) => errors.push(error) });
    expect(jobs.get(kept.id)?.state).toBe('pending');
    expect(jobs.health().store.skipped).toBe(3);
    expect(errors.map((error) => error.message).join()).toMatch(/3 unreadable line\(s\) skipped/);
    // Repaired: only whole lines remain, so the next append starts on a fresh line.
    const repaired = await readFile(path, 'utf8');
    expect(repaired.endsWith('\n')).toBe(true);
    expect(
      repaired
        .split('\n')
        .filter(Boolean)
        .every((line) => JSON.parse(line).id === kept.id),
    ).toBe(true);
    await jobs.enqueue({ category: 'after', state: 'pending' });
    await jobs.close();
    expect((await lines()).map((line) => JSON.parse(line).category)).toEqual(['c', 'after']);
  });

  it('finishes the busy jobs of a dead process as error, and keeps pending ones', async () => {
    await writeFile(path, '');
    const store = jsonlStore({ path });
    const crashed = await createJobRegistry({ store });
    const running = await crashed.enqueue({ category: 'c', state: 'running' });
    const pending = await crashed.enqueue({ category: 'c', state: 'pending' });
    // Both are in the file before the "crash".
    await store.flush();
    // Simulate a dead owner: a lock whose PID no longer runs.
    await writeFile(`${path}.lock`, '999999999\n');
    const jobs = await createJobRegistry({ store: jsonlStore({ path }) });
    expect(jobs.get(running.id)).toMatchObject({ state: 'error', message: RESTART_MESSAGE });
    expect(jobs.get(pending.id)?.state).toBe('pending');
    await jobs.close();
    // The "dead" registry is still open in this process: closed, so its folder check stops too.
    await crashed.close();
  });

  it('takes over the lock of a dead process, refuses a second open in this one, and removes its lock on close', async () => {
    // Real crashes, PID reuse and live owners in other processes: test/torture/lock.test.ts.
    const dead = { pid: 999_999_999, start: 'linux:1', host: hostname(), token: 'dead', created: '' };
    await writeFile(`${path}.lock`, JSON.stringify(dead));
    const jobs = await createJobRegistry({ store: jsonlStore({ path }) });
    expect(JSON.parse(await readFile(`${path}.lock`, 'utf8')).pid).toBe(process.pid);
    await expect(createJobRegistry({ store: jsonlStore({ path }) })).rejects.toThrow(/in use by this process/);
    await jobs.close();
    expect(await readdir(dir)).toEqual(['jobs.jsonl']);
  });

  it('keeps working in memory while the disk fails, reports it, and rewrites the log on recovery', async () => {
    const errors: Error[] = [];
    const jobs = await createJobRegistry({
      store: jsonlStore({ path, maxLines: 5, retryMs: 20 }),
      onError: (error) => errors.push(error),
    });
    // A directory where compaction writes its temporary file makes the next compaction fail for real.
    const blocker = `${path}.${process.pid}.tmp`;
    await mkdir(blocker);
    const job = await jobs.enqueue({ category: 'c', state: 'running' });
    for (let i = 1; i <= 10; i++) {
      await jobs.update(job.id, { progress: i / 10 });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(() => !jobs.health().ok, 'the failed write to be reported');
    expect(jobs.health().store.error).toMatch(/write failed/);
    expect(errors.length).toBeGreaterThan(0);
    // Callers are unaffected while the disk is down.
    const later = await jobs.update(job.id, { state: 'success', message: 'done while the disk was down' });
    expect(jobs.get(job.id)).toBe(later);

    await rmdir(blocker);
    await waitFor(() => jobs.health().ok, 'the store to recover');
    const other = await jobs.enqueue({ category: 'after-recovery' });
    await jobs.close();
    const again = await createJobRegistry({ store: jsonlStore({ path }) });
    expect(again.get(job.id)).toEqual(later);
    expect(again.get(other.id)?.category).toBe('after-recovery');
    await again.close();
  });

  it.skipIf(process.platform !== 'linux')(
    'with fsync, syncs every batch and the folder after a compaction; without it, only the compacted file',
    async () => {
      // Which files get synced, seen through /proc/self/fd: the calls the store really makes.
      const probe = await open(join(dir, 'probe'), 'w');
      const prototype = Object.getPrototypeOf(probe) as FileHandle;
      await probe.close();
      await rm(join(dir, 'probe'));
      const synced: string[] = [];
      for (const method of ['sync', 'datasync'] as const) {
        const original = prototype[method];
        vi.spyOn(prototype, method).mockImplementation(function (this: FileHandle) {
          synced.push(`${method} ${readlinkSync(`/proc/self/fd/${this.fd}`)}`);
          return original.call(this);
        });
      }
      const folder = await realpath(dir);
      const file = join(folder, 'jobs.jsonl');
      const temp = `${file}.${process.pid}.tmp`;
      const run = async (fsync: boolean) => {
        synced.length = 0;
        const store = jsonlStore({ path, fsync, maxLines: 4 });
        const jobs = await createJobRegistry({ store, onError: () => {} });
        const job = await jobs.enqueue({ category: 'c', state: 'running' });
        await store.flush();
        for (let i = 1; i <= 4; i++) {
          await jobs.update(job.id, { progress: i / 10 });
          await store.flush();
        }
        await jobs.close();
        return [...synced];
      };
      try {
        // Five batches, a compaction past four lines, and the batch of close() (the running job finished
        // as an error). The compacted file is synced before its rename either way: a power loss must
        // never leave an empty log where a full one was.
        expect(await run(false)).toEqual([`sync ${temp}`]);
        await rm(path);
        expect(await run(true)).toEqual([
          `sync ${folder}`, // the new log's folder entry
          ...Array.from({ length: 5 }, () => `datasync ${file}`),
          `sync ${temp}`,
          `sync ${folder}`, // the rename
          `datasync ${file}`, // the batch of close(), after the compaction
        ]);
      } finally {
        vi.restoreAllMocks();
      }
    },
  );

  it('validates its options', () => {
    expect(() => jsonlStore({ path: '' })).toThrow(/`path` must be a non-empty string/);
    expect(() => jsonlStore({ path, maxLines: 0 })).toThrow(/`maxLines`/);
    // Longer than a timer can wait: it would fire at once.
    for (const field of ['retryMs', 'checkMs'] as const) {
      expect(() => jsonlStore({ path, [field]: 2 ** 31 })).toThrow(
        expect.objectContaining({
          code: 'invalid_options',
          field,
          message: expect.stringMatching(/at most 2147483647/),
        }),
      );
      expect(() => jsonlStore({ path, [field]: 2 ** 31 - 1 })).not.toThrow();
      expect(() => jsonlStore({ path, [field]: 0 })).toThrow(expect.objectContaining({ field }));
    }
    expect(() => jsonlStore({ path, fsync: 'yes' as never })).toThrow(
      expect.objectContaining({
        code: 'invalid_options',
        field: 'fsync',
        message: expect.stringMatching(/`fsync` must be true or false/),
      }),
    );
    expect(() => jsonlStore(undefined as never)).toThrow(/options must be an object/);
  });
});
