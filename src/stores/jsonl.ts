import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { integerOption, timerOption } from '../core/options.js';
import type { JobStore, StoreContext, StoreLoad } from '../core/store.js';
import { errorMessage, JobsError } from '../protocol/errors.js';
import type { Job } from '../protocol/job.js';
import { LocalState } from './local-state.js';

export interface JsonlStoreOptions {
  /** The log file. Its folder is created when missing; `<path>.lock` guards it. */
  path: string;
  /**
   * Compaction keeps the file near this many lines: past it (and past twice the number of jobs held),
   * the newest snapshot of each job is written to a temporary file that is renamed over the log.
   * @default 500
   */
  maxLines?: number;
  /** How long to wait before writing again after the disk failed. @default 1000 */
  retryMs?: number;
  /** How many recent events are kept for `Last-Event-ID` replay. @default 1000 */
  replayBufferSize?: number;
}

/**
 * A JSONL log: one job snapshot per line, appended in batches once per tick, off the caller's path.
 * A failing disk never throws into the registry: snapshots stay in memory, the fault is reported,
 * and the whole state is rewritten when the disk recovers.
 *
 * @example
 * const jobs = await createJobRegistry({ store: jsonlStore({ path: 'data/realtime_jobs.jsonl' }) });
 */
export function jsonlStore(options: JsonlStoreOptions): JobStore {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', 'jsonlStore: options must be an object with a `path`');
  }
  if (typeof options.path !== 'string' || options.path.trim() === '') {
    throw new JobsError('invalid_options', 'jsonlStore: `path` must be a non-empty string', { field: 'path' });
  }
  const maxLines = integerOption('jsonlStore', 'maxLines', options.maxLines, 500, 1);
  const retryMs = timerOption('jsonlStore', 'retryMs', options.retryMs, 1000, 1);
  const replayBufferSize = integerOption('jsonlStore', 'replayBufferSize', options.replayBufferSize, 1000, 0);
  const path = resolve(options.path);
  const lockPath = `${path}.lock`;
  const tempPath = `${path}.${process.pid}.tmp`;

  const state = new LocalState(replayBufferSize);
  /** The newest snapshot of every job: what a compaction writes and what recovery rewrites. */
  const latest = state.jobs;
  let queue: string[] = [];
  let lines = 0;
  let skipped = 0;
  let handle: FileHandle | null = null;
  let context: StoreContext | null = null;
  let fault: Error | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  let writing: Promise<void> | null = null;
  let scheduled = false;
  let closed = false;
  /** Jobs removed since the last compaction: their lines are still in the file. */
  let removedSinceCompaction = 0;

  const describe = (error: unknown, what: string) =>
    new Error(`jsonlStore(${path}): ${what}: ${errorMessage(error)}`, { cause: error });
  const report = (error: unknown, what: string) => {
    const described = describe(error, what);
    context?.onError(described);
    return described;
  };
  const WRITE_FAILED = 'write failed; jobs are kept in memory and the log will be rewritten';

  /** Writes the newest snapshot of every job to a temporary file and renames it over the log. */
  async function compact(): Promise<void> {
    const jobs = [...latest.values()];
    const body = jobs.map((job) => `${JSON.stringify(job)}\n`).join('');
    // What was queued so far is in `body`. What is saved while this compaction awaits the disk stays
    // queued and is appended to the new file after it: clearing the queue at the end lost it.
    queue = [];
    const temp = await open(tempPath, 'w');
    try {
      await temp.writeFile(body);
      await temp.sync();
    } finally {
      await temp.close();
    }
    await handle?.close().catch(() => {});
    handle = null;
    await rename(tempPath, path);
    handle = await open(path, 'a');
    lines = jobs.length;
    removedSinceCompaction = 0;
  }

  async function writeQueued(): Promise<void> {
    while (queue.length > 0 && !fault) {
      const batch = queue;
      queue = [];
      try {
        if (!handle) handle = await open(path, 'a');
        // appendFile, not write: one write() call may store only part of the batch (a disk that fills
        // up mid-batch) and report success; appendFile writes the rest or fails with the reason.
        await handle.appendFile(batch.join(''));
        lines += batch.length;
        if (lines > Math.max(maxLines, latest.size * 2)) await compact();
      } catch (error) {
        fail(error);
      }
    }
  }

  function fail(error: unknown) {
    // `latest` already holds everything that was queued: recovery rewrites it whole.
    queue = [];
    fault = report(error, WRITE_FAILED);
    scheduleRetry();
  }

  function scheduleRetry() {
    if (retryTimer || closed) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      void runWriter(recover);
    }, retryMs);
    retryTimer.unref();
  }

  async function recover(): Promise<void> {
    try {
      await compact();
      fault = null;
    } catch (error) {
      // Still failing: keep the fault current without reporting every retry.
      fault = describe(error, WRITE_FAILED);
      await unlink(tempPath).catch(() => {});
      scheduleRetry();
    }
  }

  /** Runs one writer task at a time, so appends, compactions and recovery never interleave. */
  function runWriter(task: () => Promise<void>): Promise<void> {
    const previous = writing ?? Promise.resolve();
    const next = previous.then(task).finally(() => {
      if (writing === next) writing = null;
    });
    writing = next;
    return next;
  }

  function assertOpen() {
    if (!state.isOpen || closed) throw new JobsError('closed', `jsonlStore(${path}) is not open`);
  }

  /** Queues a recorded snapshot for the next batch (while the disk fails, recovery rewrites it). */
  function append(job: Job) {
    if (fault) return;
    queue.push(`${JSON.stringify(job)}\n`);
    scheduleWrite();
  }

  function scheduleWrite() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void runWriter(writeQueued);
    });
  }

  return {
    kind: 'jsonl',
    async open(ctx) {
      if (context) throw new JobsError('invalid_options', `jsonlStore(${path}) is already open`);
      context = ctx;
      await mkdir(dirname(path), { recursive: true });
      await acquireLock(lockPath);
      try {
        const found = new Map<string, Job>();
        const loaded = await load(path, ctx, found);
        skipped = loaded.skipped;
        lines = loaded.lines;
        const { head, orphans } = state.open(ctx, [...found.values()]);
        if (loaded.repair || lines > Math.max(maxLines, latest.size * 2)) await compact();
        else handle = await open(path, 'a');
        if (skipped > 0) {
          report(new Error(`${skipped} unreadable line(s) skipped`), 'load');
        }
        return {
          jobs: [...latest.values()],
          head,
          orphans,
          skipped,
          repaired: loaded.repair,
        } satisfies StoreLoad;
      } catch (error) {
        await releaseLock(lockPath);
        context = null;
        throw error;
      }
    },
    async create(job) {
      assertOpen();
      const result = state.create(job);
      if (result.created) append(job);
      return result;
    },
    async write(job) {
      assertOpen();
      const result = state.write(job);
      if (result.ok) append(job);
      return result;
    },
    async eventsSince(lastEventId) {
      assertOpen();
      return state.eventsSince(lastEventId);
    },
    async remove(removed) {
      // Pruned jobs leave the file at the next compaction (at the latest, on close). Were the process
      // to die first, the registry prunes them again when it loads them.
      removedSinceCompaction += state.remove(removed);
    },
    async flush() {
      while (queue.length > 0 || writing || scheduled) {
        if (queue.length > 0 && !writing) await runWriter(writeQueued);
        else if (writing) await writing;
        else await new Promise((resolve) => setImmediate(resolve));
      }
    },
    async close() {
      if (closed || !context) return;
      await this.flush();
      if (removedSinceCompaction > 0 && !fault) await runWriter(compact).catch((error) => fail(error));
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      if (fault) {
        // One last try, so a recovered disk gets the final state.
        await recover().catch(() => {});
        if (retryTimer) clearTimeout(retryTimer);
        if (fault) report(fault, 'closing with unwritten jobs');
      }
      await handle?.close().catch(() => {});
      handle = null;
      state.close();
      await releaseLock(lockPath);
    },
    health() {
      return {
        ok: fault === null,
        error: fault ? fault.message : null,
        pendingWrites: fault ? latest.size : queue.length,
        skipped,
      };
    },
  };
}

/** Reads the log into `latest`; says whether the file must be rewritten to repair it. */
async function load(
  path: string,
  context: StoreContext,
  latest: Map<string, Job>,
): Promise<{ lines: number; skipped: number; repair: boolean }> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { lines: 0, skipped: 0, repair: false };
    throw error;
  }
  const rows = text.split('\n');
  // The text after the last newline is a torn tail when it is not empty.
  const tail = rows.pop() ?? '';
  let skipped = 0;
  let repair = tail !== '';
  let lines = 0;
  for (const row of tail === '' ? rows : [...rows, tail]) {
    if (row.trim() === '') {
      repair = true;
      continue;
    }
    lines++;
    let job: Job;
    try {
      job = context.parseJob(JSON.parse(row));
    } catch {
      skipped++;
      repair = true;
      continue;
    }
    const held = latest.get(job.id);
    if (!held || held.version <= job.version) latest.set(job.id, job);
  }
  return { lines, skipped, repair };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process per log. A lock held by a live process is an error; one left by a dead process is
 * taken over at once, so a crash never blocks the restart.
 */
async function acquireLock(lockPath: string): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(lockPath, `${process.pid}\n`, { flag: 'wx' });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
    if (Number.isSafeInteger(owner) && owner > 0 && isAlive(owner)) {
      const who = owner === process.pid ? 'this process (another registry still has it open)' : `process ${owner}`;
      throw new JobsError(
        'locked',
        `The job log ${lockPath.slice(0, -5)} is in use by ${who}. One process per JSONL file: stop the other one, or give this one its own path.`,
      );
    }
    await unlink(lockPath).catch(() => {});
  }
  throw new JobsError('locked', `Could not take the lock ${lockPath}: another process keeps taking it`);
}

async function releaseLock(lockPath: string): Promise<void> {
  const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10);
  if (owner === process.pid) await unlink(lockPath).catch(() => {});
}
