// One file of about 370 lines on purpose: the writer is one closure whose state (the queue, `fault`,
// `rewriting`, the single writer chain) is shared by appending, compaction, recovery and the folder
// check, and the rules that keep a record from being lost are about how those four interleave. Split
// up, they would share that state through an object and the rules would be read across files. What
// stands apart already does: the lock (lock.ts) and the job facade (../jsonl.ts).

import type { FileHandle } from 'node:fs/promises';
import { mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { errorMessage } from '../../protocol/errors.js';
import { acquireLock, type FileLock } from './lock.js';

/**
 * A durable log of JSON records, one per line, that keeps the newest record of each key. It knows
 * nothing of jobs or of the store interface: the JSONL store is a thin facade over it.
 */
export interface LogFileOptions<T> {
  /** Absolute path of the log. `<path>.lock` guards it; its folder is created when missing. */
  path: string;
  /** Names the log in error messages, e.g. `jsonlStore(/data/jobs.jsonl)`. */
  label: string;
  /** Compaction keeps the file near this many lines (and at most twice the number of keys). */
  maxLines: number;
  /** How long to wait before writing again after the disk failed. */
  retryMs: number;
  /** How often to check that the log file is still where it was (its folder deleted, the file moved). */
  checkMs: number;
  /** fdatasync every batch, and the folder after a compaction renames the new file into place. */
  fsync: boolean;
  /** The key of a record: the log keeps the newest record of each key. */
  key(record: T): string;
  /** Parses the JSON value of one line; throws when it is not a record. */
  parse(value: unknown): T;
  /** At load, whether `next` (read later in the file) replaces `held`, of the same key. */
  replaces(next: T, held: T): boolean;
  /** Where faults go: a failing disk, a vanished folder, unreadable lines. Never throws into the caller. */
  onError(error: Error): void;
}

export interface LogLoad<T> {
  records: T[];
  /** Lines that could not be read and were skipped. */
  skipped: number;
  /** True when the file was rewritten at open to drop a torn tail or unreadable lines. */
  repaired: boolean;
}

export interface LogHealth {
  ok: boolean;
  /** The current fault, while it lasts. */
  error: string | null;
  /** Records accepted but not yet in the file. */
  pendingWrites: number;
  skipped: number;
}

export interface LogFile<T> {
  open(): Promise<LogLoad<T>>;
  /** Records the newest version of a record; written in a batch once per tick, off the caller's path. */
  put(record: T): void;
  /** Forgets records; their lines leave the file at the next compaction (at the latest, on close). */
  delete(keys: Iterable<string>): void;
  /** Resolves when everything put so far is written (or has failed and is being retried). */
  flush(): Promise<void>;
  /** Flushes, compacts away deleted records, makes one last try after a fault, releases the lock. */
  close(): Promise<void>;
  health(): LogHealth;
}

const WRITE_FAILED = 'write failed; everything stays in memory and the log will be rewritten';
const GONE =
  'the log file or its lock is gone (its folder deleted, a file moved or replaced); everything stays in memory and the log will be rewritten';

export function createLogFile<T>(options: LogFileOptions<T>): LogFile<T> {
  const { path, maxLines, retryMs, checkMs, fsync } = options;
  const dir = dirname(path);
  const tempPath = `${path}.${process.pid}.tmp`;
  const line = (record: T) => `${JSON.stringify(record)}\n`;

  /** The newest record of every key: what a compaction writes and what recovery rewrites. */
  const latest = new Map<string, T>();
  let queue: string[] = [];
  let lines = 0;
  let skipped = 0;
  let handle: FileHandle | null = null;
  let lock: FileLock | null = null;
  /** Set while the file lacks some of `latest`; cleared only by a complete rewrite. */
  let fault: Error | null = null;
  /** True while a compaction writes its snapshot of `latest`: what is put meanwhile must follow it. */
  let rewriting = false;
  let retryTimer: NodeJS.Timeout | null = null;
  let checkTimer: NodeJS.Timeout | null = null;
  let checkPending = false;
  let writing: Promise<void> | null = null;
  let scheduled = false;
  let closing = false;
  /** Records deleted since the last compaction: their lines are still in the file. */
  let deletedSinceCompaction = 0;

  const describe = (error: unknown, what: string) =>
    new Error(`${options.label}: ${what}: ${errorMessage(error)}`, { cause: error });

  /** Writes the newest record of every key to a temporary file and renames it over the log. */
  async function compact(): Promise<void> {
    rewriting = true;
    try {
      const records = [...latest.values()];
      const deleted = deletedSinceCompaction;
      const body = records.map(line).join('');
      // What was queued so far is in `body`. What is put from here on is queued and appended to the
      // new file after it (during a recovery too: `rewriting` lets it into the queue).
      queue = [];
      const temp = await open(tempPath, 'w');
      try {
        await temp.writeFile(body);
        // Always synced: a rename can reach the disk before the data, and a power loss would then
        // leave an empty log where a full one was.
        await temp.sync();
      } finally {
        await temp.close();
      }
      // Closed before the rename, which fails over an open file on Windows.
      await handle?.close().catch(() => {});
      handle = null;
      await rename(tempPath, path);
      if (fsync) await syncFolder();
      handle = await open(path, 'a');
      lines = records.length;
      deletedSinceCompaction -= deleted;
      // The file now holds everything: whatever fault there was is over. Cleared before `rewriting`,
      // with no await between, so no put can fall between the two and be neither written nor queued.
      fault = null;
    } finally {
      rewriting = false;
    }
  }

  async function writeQueued(): Promise<void> {
    while (queue.length > 0 && !fault) {
      const batch = queue;
      queue = [];
      try {
        // Never reopened here: a file created afresh would hold this batch and none of the rest.
        if (!handle) throw new Error('the log is not open');
        // appendFile, not write: one write() call may store only part of the batch (a disk that fills
        // up mid-batch) and report success; appendFile writes the rest or fails with the reason.
        await handle.appendFile(batch.join(''));
        if (fsync) await handle.datasync();
        lines += batch.length;
        if (lines > Math.max(maxLines, latest.size * 2)) await compact();
      } catch (error) {
        fail(error, WRITE_FAILED);
      }
    }
  }

  function fail(error: unknown, what: string) {
    // `latest` holds everything that was queued: recovery rewrites it whole.
    queue = [];
    const first = fault === null;
    fault = describe(error, what);
    // Reported once per outage, not once per retry.
    if (first) options.onError(fault);
    scheduleRetry();
  }

  function scheduleRetry() {
    if (retryTimer || closing) return;
    retryTimer = setTimeout(() => {
      retryTimer = null;
      void runWriter(recover);
    }, retryMs);
    retryTimer.unref();
  }

  /** Rewrites the whole state, after re-creating the folder and the lock file if they were deleted. */
  async function recover(): Promise<void> {
    if (!fault) return;
    try {
      await mkdir(dir, { recursive: true });
      await lock?.restore();
      await compact();
    } catch (error) {
      // Still failing: keep the fault current without reporting every retry. What was queued during
      // the failed rewrite is in `latest`, for the next one.
      queue = [];
      fault = describe(error, WRITE_FAILED);
      await unlink(tempPath).catch(() => {});
      scheduleRetry();
    }
  }

  /**
   * Checks that the file appended to is still the log, and the lock still ours: an open handle keeps
   * writing into a deleted or moved file without an error, so a deleted folder would otherwise go
   * unnoticed and take the whole history with it. Only reads: re-creating anything is recovery's job,
   * after `retryMs`, not something to race with whoever is deleting the folder right now.
   */
  async function check(): Promise<void> {
    if (fault || !handle || closing) return;
    try {
      const [onDisk, appending] = await Promise.all([stat(path), handle.stat()]);
      if (onDisk.ino !== appending.ino || onDisk.dev !== appending.dev) {
        throw new Error(`another file took the place of ${path}`);
      }
      await lock?.verify();
    } catch (error) {
      fail(error, GONE);
    }
  }

  /** Makes a rename or a new file durable: its folder entry reaches the disk only when the folder is synced. */
  async function syncFolder(): Promise<void> {
    let folder: FileHandle | null = null;
    try {
      folder = await open(dir, 'r');
      await folder.sync();
    } catch (error) {
      // Windows cannot open a folder, and some file systems refuse to sync one: nothing more to do.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EISDIR' && code !== 'EPERM' && code !== 'EINVAL' && code !== 'ENOTSUP') throw error;
    } finally {
      await folder?.close();
    }
  }

  /** Runs one writer task at a time, so appends, compactions, checks and recovery never interleave. */
  function runWriter(task: () => Promise<void>): Promise<void> {
    const previous = writing ?? Promise.resolve();
    const next = previous.then(task).finally(() => {
      if (writing === next) writing = null;
    });
    writing = next;
    return next;
  }

  function scheduleWrite() {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      void runWriter(writeQueued);
    });
  }

  async function flush(): Promise<void> {
    while (queue.length > 0 || writing || scheduled) {
      if (queue.length > 0 && !writing) await runWriter(writeQueued);
      else if (writing) await writing;
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  return {
    async open() {
      await mkdir(dir, { recursive: true });
      const taken = await acquireLock(`${path}.lock`);
      let repaired = false;
      try {
        const loaded = await load(path, options, latest);
        skipped = loaded.skipped;
        lines = loaded.lines;
        repaired = loaded.repair;
        if (loaded.repair || lines > Math.max(maxLines, latest.size * 2)) await compact();
        else {
          handle = await open(path, 'a');
          if (fsync && !loaded.existed) await syncFolder();
        }
      } catch (error) {
        await handle?.close().catch(() => {});
        handle = null;
        latest.clear();
        await taken.release();
        throw error;
      }
      lock = taken;
      if (skipped > 0) options.onError(describe(new Error(`${skipped} unreadable line(s) skipped`), 'load'));
      checkTimer = setInterval(() => {
        if (checkPending) return;
        checkPending = true;
        void runWriter(check).finally(() => {
          checkPending = false;
        });
      }, checkMs);
      checkTimer.unref();
      return { records: [...latest.values()], skipped, repaired };
    },
    put(record) {
      latest.set(options.key(record), record);
      // While the file lacks part of the state nothing is queued: the rewrite on recovery writes
      // `latest` whole. A rewrite under way is the exception: its snapshot is taken, so what comes
      // after it must be queued to follow it, or it would be lost.
      if (fault && !rewriting) return;
      queue.push(line(record));
      scheduleWrite();
    },
    delete(keys) {
      for (const key of keys) if (latest.delete(key)) deletedSinceCompaction++;
    },
    flush,
    async close() {
      if (closing || !lock) return;
      if (checkTimer) clearInterval(checkTimer);
      checkTimer = null;
      await flush();
      if (deletedSinceCompaction > 0 && !fault) {
        await runWriter(() => compact().catch((error) => fail(error, WRITE_FAILED)));
      }
      closing = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      if (fault) {
        // One last try, so a recovered disk gets the final state.
        await runWriter(recover);
        await flush();
        if (fault) options.onError(describe(fault, 'closing with unwritten changes'));
      }
      await handle?.close().catch(() => {});
      handle = null;
      await lock.release();
      lock = null;
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
async function load<T>(
  path: string,
  codec: Pick<LogFileOptions<T>, 'parse' | 'key' | 'replaces'>,
  latest: Map<string, T>,
): Promise<{ lines: number; skipped: number; repair: boolean; existed: boolean }> {
  let text: string;
  try {
    // Read whole, then decode once: readFile's own decoding goes through a StringDecoder in chunks,
    // which cost about a third more CPU on a 40 MB log.
    text = (await readFile(path)).toString('utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { lines: 0, skipped: 0, repair: false, existed: false };
    throw error;
  }
  const rows = text.split('\n');
  // The text after the last newline is a torn tail when it is not empty.
  const tail = rows.pop() ?? '';
  let skipped = 0;
  let repair = tail !== '';
  let lines = 0;
  if (tail !== '') rows.push(tail);
  for (const row of rows) {
    // Blank lines are rare: test the first character before paying for a trim.
    if (row === '' || (row.charCodeAt(0) <= 32 && row.trim() === '')) {
      repair = true;
      continue;
    }
    lines++;
    let record: T;
    try {
      record = codec.parse(JSON.parse(row));
    } catch {
      skipped++;
      repair = true;
      continue;
    }
    const key = codec.key(record);
    const held = latest.get(key);
    if (!held || codec.replaces(record, held)) latest.set(key, record);
  }
  return { lines, skipped, repair, existed: true };
}
