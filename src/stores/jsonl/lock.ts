import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { JobsError } from '../../protocol/errors.js';

/**
 * Who holds a lock. A PID alone cannot say: after a crash the restarted server may get the same PID
 * (PID 1 in a container), and any other process may get it later. The start time of the process
 * tells a reused PID apart, the host says whose PIDs these are, and the token tells this process's
 * own locks apart from one an earlier process with the same PID left behind.
 */
export interface LockOwner {
  pid: number;
  /** When the process started, as the OS tells it (see {@link processStartTime}); null where it cannot. */
  start: string | null;
  host: string;
  /** Random, new for every lock taken. */
  token: string;
  /** For people reading the file. */
  created: string;
}

export interface FileLock {
  readonly path: string;
  readonly owner: LockOwner;
  /**
   * Puts the lock file back after it vanished (its folder was deleted). Throws a `locked` JobsError
   * when another process took the log meanwhile.
   */
  restore(): Promise<void>;
  /** Throws when the lock file is gone or names another owner now; writes nothing. */
  verify(): Promise<void>;
  /** Removes the lock file if it is still this lock's. */
  release(): Promise<void>;
}

/**
 * The tokens of the locks this process holds, shared by every copy of the library loaded in it (ESM
 * and CJS builds side by side each have their own module state, not their own process).
 */
const HELD: unique symbol = Symbol.for('realtime-jobs.locks') as never;
const shared = globalThis as typeof globalThis & { [HELD]?: Map<string, string> };
shared[HELD] ??= new Map();
/** Token → lock path. */
const held = shared[HELD];

let ownStart: string | null | undefined;

/**
 * Takes `<log>.lock` for this process. A lock left by a process that is gone — dead, or its PID now
 * someone else's, or an earlier run of this process's own PID — is taken over at once, so a crash never
 * blocks the restart. A lock held by a live process (this one included) is a `locked` JobsError; so is
 * one from another host, whose processes this one cannot see.
 */
export async function acquireLock(path: string): Promise<FileLock> {
  ownStart ??= processStartTime(process.pid);
  const owner: LockOwner = {
    pid: process.pid,
    start: ownStart,
    host: hostname(),
    token: randomBytes(12).toString('hex'),
    created: new Date().toISOString(),
  };
  await take(path, owner);
  held.set(owner.token, path);
  return {
    path,
    owner,
    async restore() {
      if (!held.has(owner.token)) throw new JobsError('closed', `The lock ${path} was released`);
      await take(path, owner);
    },
    async verify() {
      const current = parseOwner(await readFile(path, 'utf8'));
      if (current?.token !== owner.token) {
        const who = current ? `process ${current.pid} on ${current.host}` : 'no owner it can read';
        throw new Error(`the lock file ${path} now names ${who}`);
      }
    },
    async release() {
      held.delete(owner.token);
      const current = parseOwner(await readFile(path, 'utf8').catch(() => ''));
      if (current?.token === owner.token) await unlink(path).catch(() => {});
    },
  };
}

/** Creates the lock file for `owner`, taking over a stale one; returns at once if it is already `owner`'s. */
async function take(path: string, owner: LockOwner): Promise<void> {
  const body = `${JSON.stringify(owner)}\n`;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await create(path, owner.token, body)) return;
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null; // Released meanwhile: try again.
      throw error;
    });
    if (text === null) continue;
    const current = parseOwner(text);
    if (current?.token === owner.token) return;
    const refusal = current ? refuse(path, current) : null;
    if (refusal) throw refusal;
    await removeStale(path, text);
  }
  throw new JobsError('locked', `Could not take the lock ${path}: other processes keep taking it`);
}

/**
 * Creates the lock file with its whole content at once: written to a file of its own, then hard-linked
 * into place, which fails when the lock exists. A reader never sees a lock half written.
 */
async function create(path: string, token: string, body: string): Promise<boolean> {
  const draft = `${path}.${token}`;
  await writeFile(draft, body);
  try {
    await link(draft, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // A file system without hard links (FAT, some network shares): an exclusive create instead.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP') {
      try {
        await writeFile(path, body, { flag: 'wx' });
        return true;
      } catch (fallback) {
        if ((fallback as NodeJS.ErrnoException).code === 'EEXIST') return false;
        throw fallback;
      }
    }
    throw error;
  } finally {
    await unlink(draft).catch(() => {});
  }
}

/**
 * Removes the stale lock whose content was `text`, and only that one: it is first renamed aside, so a
 * fresh lock another starter created meanwhile is never deleted by mistake (it is put back instead).
 */
async function removeStale(path: string, text: string): Promise<void> {
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // Someone else removed it.
    throw error;
  }
  const moved = await readFile(aside, 'utf8').catch(() => null);
  if (moved !== null && moved !== text) await link(aside, path).catch(() => {});
  await unlink(aside).catch(() => {});
}

/** Why `owner` still holds the lock, or null when its lock is stale. */
function refuse(path: string, owner: LockOwner): JobsError | null {
  const log = path.replace(/\.lock$/, '');
  const advice = 'One process per JSONL file: stop the other one, or give this one its own path.';
  if (held.has(owner.token)) {
    return new JobsError(
      'locked',
      `The job log ${log} is in use by this process (another registry still has it open). ${advice}`,
    );
  }
  if (owner.host !== hostname()) {
    // Its processes cannot be seen from here: never taken over.
    return new JobsError(
      'locked',
      `The job log ${log} is in use by process ${owner.pid} on host ${owner.host}, or was when that host ` +
        `stopped. ${advice} If ${owner.host} no longer runs it, delete ${path}.`,
    );
  }
  if (owner.pid === process.pid) {
    // Our PID but not one of our locks: an earlier process that had this PID (a container's PID 1),
    // unless another thread or copy of the library started with this very process.
    if (owner.start !== null && owner.start === ownStart) {
      return new JobsError(
        'locked',
        `The job log ${log} is in use by this process (another thread or copy of realtime-jobs). ${advice}`,
      );
    }
    return null;
  }
  if (!isAlive(owner.pid)) return null;
  const start = processStartTime(owner.pid);
  // The PID is alive but started at another time: a new process that got a dead owner's PID.
  if (owner.start !== null && start !== null && start !== owner.start) return null;
  return new JobsError('locked', `The job log ${log} is in use by process ${owner.pid}. ${advice}`);
}

function parseOwner(text: string): LockOwner | null {
  try {
    const value = JSON.parse(text) as Partial<LockOwner> | null;
    if (
      typeof value?.pid === 'number' &&
      typeof value.host === 'string' &&
      typeof value.token === 'string' &&
      (typeof value.start === 'string' || value.start === null)
    ) {
      return value as LockOwner;
    }
  } catch {
    // Not a lock this code wrote: stale (see below).
  }
  // Unreadable (empty after a power loss, or garbage) names no live owner: stale.
  return null;
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
 * When process `pid` started, as an opaque string to compare: on Linux field 22 of `/proc/<pid>/stat`
 * (clock ticks since boot), elsewhere `ps -o lstart=` (to the second); null when neither answers
 * (Windows), and a lock then trusts a live PID as its owner.
 */
export function processStartTime(pid: number): string | null {
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Field 2, the command name, is in parentheses and may hold spaces: count from the last `)`.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ticks = fields[19];
      if (ticks && /^\d+$/.test(ticks)) return `linux:${ticks}`;
    } catch {
      // No /proc (or the process is gone): try ps.
    }
  }
  if (process.platform === 'win32') return null;
  try {
    const started = execFileSync('ps', ['-o', 'lstart=', '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 2000,
    }).trim();
    return started ? `ps:${started}` : null;
  } catch {
    return null;
  }
}
