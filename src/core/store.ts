import type { Job } from '../protocol/job.js';

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
 * `realtime-jobs/testing`: ids increase within an epoch, a new `open` starts a new epoch, and what
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
