import { customAlphabet } from 'nanoid';
import type { Job } from './job.js';

/** What a store hands the registry once, when it opens. */
export interface StoreLoad {
  /** The newest snapshot of every job the store holds. */
  jobs: Job[];
  /** Lines or records that could not be read and were skipped. */
  skipped: number;
  /** True when the store rewrote its file to repair a torn tail or drop unreadable lines. */
  repaired: boolean;
}

/** What the registry gives a store when it opens it. */
export interface StoreContext {
  /** Parses a stored record into a job; throws when it is not one. */
  parseJob(value: unknown): Job;
  /** Where the store reports faults it recovered from (a failing disk, unreadable lines). */
  onError(error: Error): void;
}

export interface StoreHealth {
  ok: boolean;
  /** The last fault, while it lasts. */
  error: string | null;
  /** Snapshots accepted but not yet durable. */
  pendingWrites: number;
  /** Records skipped at load. */
  skipped: number;
}

/**
 * Where jobs persist and where event ids come from. Every store passes the conformance suite in
 * `test/store-conformance.ts`: ids increase within an epoch, a new `open` starts a new epoch, and what
 * was saved before `close()` comes back from the next `open()`.
 */
export interface JobStore {
  /** A short name for health reports, e.g. `memory` or `jsonl`. */
  readonly kind: string;
  /** Opens the store and loads what it holds. Called once per registry, before anything else. */
  open(context: StoreContext): Promise<StoreLoad>;
  /**
   * Records a new snapshot of a job and returns the event id it gets. Never throws for I/O: a failing
   * write is reported through `onError` and `health()` and retried.
   */
  save(job: Job): string;
  /** Forgets jobs that were pruned. */
  remove(ids: readonly string[]): void;
  /** The id of the newest event, or `<epoch>-0` before the first. */
  head(): string;
  /** Resolves when everything saved so far is written (or has failed and is being retried). */
  flush(): Promise<void>;
  /** Flushes, then releases the store (its lock, its file handles). */
  close(): Promise<void>;
  health(): StoreHealth;
}

const epochId = customAlphabet('0123456789abcdefghijklmnopqrstuvwxyz', 10);

/**
 * Event ids are `<epoch>-<sequence>`. The epoch is new on every open, so an id from an earlier process
 * (or a store that lost its history) is recognisably foreign and gets a resync, never a wrong replay.
 */
export interface EventIdSequence {
  readonly epoch: string;
  next(): string;
  head(): string;
}

export function createEventIdSequence(): EventIdSequence {
  const epoch = epochId();
  let sequence = 0;
  return {
    epoch,
    next: () => `${epoch}-${++sequence}`,
    head: () => `${epoch}-${sequence}`,
  };
}

/** Splits an event id; `null` for anything not of the form `<epoch>-<sequence>`. */
export function parseEventId(id: string): { epoch: string; sequence: number } | null {
  const match = /^([a-z0-9]{1,32})-(0|[1-9][0-9]{0,15})$/.exec(id);
  if (!match) return null;
  const sequence = Number(match[2]);
  return Number.isSafeInteger(sequence) ? { epoch: match[1] as string, sequence } : null;
}

/**
 * Keeps jobs in memory only: nothing survives the process. Reusing one instance for a later registry
 * in the same process hands that registry the jobs (tests use this to simulate a restart).
 */
export function memoryStore(): JobStore {
  const jobs = new Map<string, Job>();
  let ids: EventIdSequence | null = null;
  let opened = false;

  const sequence = (): EventIdSequence => {
    if (!ids) throw new Error('memoryStore: open() it (through createJobRegistry) before use');
    return ids;
  };

  return {
    kind: 'memory',
    async open() {
      if (opened) throw new Error('memoryStore: this store is already open in another registry');
      opened = true;
      ids = createEventIdSequence();
      return { jobs: [...jobs.values()], skipped: 0, repaired: false };
    },
    save(job) {
      const id = sequence().next();
      jobs.set(job.id, job);
      return id;
    },
    remove(removed) {
      for (const id of removed) jobs.delete(id);
    },
    head: () => sequence().head(),
    flush: async () => {},
    async close() {
      opened = false;
    },
    health: () => ({ ok: true, error: null, pendingWrites: 0, skipped: 0 }),
  };
}
