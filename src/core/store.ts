import type { Job, JobState, LogLine } from '../protocol/job.js';

/** One change of one job, as the store records it and subscribers and streams receive it. */
export interface JobEvent {
  /** The event id: `<epoch>-<position>`, increasing within an epoch (see `parseEventId`). */
  readonly id: string;
  /** The job as it stands after the change (for a log line: as it stood when the line was written). */
  readonly job: Job;
  /** Set when the change is a line added to the job's log, not a new snapshot of the job. */
  readonly log?: LogLine;
}

/** What `eventsSince()` answers: the exact missed events, or a resync when they are not all held. */
export type Replay =
  | {
      kind: 'replay';
      /** Every event after the given id, oldest first. */
      events: JobEvent[];
      /** The position the replay reaches: the last event's id, or the given id when nothing was missed. */
      head: string;
    }
  | { kind: 'resync'; reason: string };

/**
 * The `reason` of a resync, in the words every store uses for these causes (the stream sends it in its
 * `resync` event). A store adds its own for causes of its own, such as a trimmed history.
 */
export const RESYNC_REASON = {
  malformed: 'malformed event id',
  otherEpoch: 'event id from another epoch',
  ahead: 'event id newer than any sent',
} as const;

/**
 * Whether a job in this state needs a process working on it: `queued` or `running` (a `pending` job
 * waits for a person). The instance that runs such a job owns it: a shared store leases it to that
 * instance, and a single-process store reports it as an orphan when it is opened again.
 */
export function needsRunner(state: JobState): boolean {
  return state === 'queued' || state === 'running';
}

/** What a store hands the registry once, when it opens. */
export interface StoreLoad {
  /** The newest snapshot of every job the store holds. */
  jobs: Job[];
  /** The kept log lines of each job that has any, oldest first. */
  logs: Record<string, LogLine[]>;
  /**
   * The id of the newest event those snapshots include: change events after it reach
   * {@link StoreContext.onEvent}, none before it.
   */
  head: string;
  /**
   * Busy jobs (`queued` or `running`) whose runner is gone: in a single-process store, every one (the
   * process that ran them has stopped); in a shared store, those whose lease ran out. The registry
   * ends them as `error`.
   */
  orphans: Job[];
  /** Lines or records that could not be read and were skipped. */
  skipped: number;
  /** True when the store rewrote its storage to repair it (a torn tail, unreadable lines). */
  repaired: boolean;
}

/** What the registry gives a store when it opens it. */
export interface StoreContext {
  /** Parses a stored record into a job; throws when it is not one. */
  parseJob(value: unknown): Job;
  /** Parses a stored log line; throws when it is not one. */
  parseLogLine(value: unknown): LogLine;
  /** How many log lines a job keeps (the oldest go first). */
  readonly logLines: number;
  /** Where the store reports faults it recovered from (a failing disk, a lost connection). */
  onError(error: Error): void;
  /**
   * Every change after the loaded head, written through this store or (in a shared store) by another
   * instance, exactly once and in id order.
   */
  onEvent(event: JobEvent): void;
  /** A busy job whose owner is gone (a lease that ran out on a shared store), found after open. */
  onOrphan(job: Job): void;
  /**
   * The shared storage lost its history (a Redis restart without persistence): the store opened a new
   * epoch and hands over everything it holds now. The registry replaces what it holds and its streams
   * resync.
   */
  onReset(load: StoreLoad): void;
}

/** Options of one write. */
export interface WriteOptions {
  /**
   * This instance owns the job (it created it or runs its work): a shared store records it as the
   * owner and renews a lease on it while it stays `queued` or `running`; when the owner stops (its
   * lease runs out), another instance ends the job through {@link StoreContext.onOrphan}. A write
   * without it leaves the lease as it is. Single-process stores ignore it.
   */
  lease?: boolean;
  /**
   * The job takes a place in a concurrency slot (a definition's `concurrency`): on `create`, it queues
   * in the slot, first come first served; a write that starts it (its state leaves `queued`) applies only
   * when it is the oldest job queued in the slot and fewer than `limit` of the slot's jobs are running
   * (else `{ ok: false, busy: true }`). The slot is remembered with the job: later writes need not name it.
   */
  slot?: { name: string; limit: number };
}

/** What `create()` answers. */
export type CreateResult =
  | { created: true; event: JobEvent }
  /** The idempotency key is held by a busy job: that job, and nothing was written. */
  | { created: false; job: Job };

/** What `write()` answers. */
export type WriteResult =
  | { ok: true; event: JobEvent }
  /**
   * Not written. Either the stored version was not `job.version - 1` (someone else wrote first;
   * `current` is what is stored), or (`busy: true`) the job's concurrency slot has no room for it yet.
   */
  | { ok: false; current: Job | null; busy?: boolean };

export interface StoreHealth {
  ok: boolean;
  /** The last fault, while it lasts. */
  error: string | null;
  /** Changes accepted but not yet durable. */
  pendingWrites: number;
  /** Records skipped at load. */
  skipped: number;
}

/**
 * Where jobs persist, where event ids come from and where missed events are replayed from. Every
 * store passes the conformance suite of `realtime-jobs/testing`.
 *
 * The rules a store keeps:
 * - `create()` and `write()` are atomic: the state and the change event are recorded together, and
 *   `write()` only applies when the stored version is `job.version - 1`, so two writers never take a
 *   job backwards.
 * - Every recorded change reaches {@link StoreContext.onEvent} once, in id order, before the
 *   `create()` or `write()` that made it resolves (read-your-writes).
 * - An id of another epoch, a trimmed one or an unknown one gets a `resync` from `eventsSince()`,
 *   never a wrong replay.
 * - I/O faults never throw into the registry from a single-process store: they are reported through
 *   `onError` and `health()` and retried. A shared store that cannot be reached rejects with a
 *   `JobsError` of code `unavailable`.
 */
export interface JobStore {
  /** A short name for health reports, e.g. `memory`, `jsonl`, `redis`. */
  readonly kind: string;
  /** Opens the store and loads what it holds. Called once per registry, before anything else. */
  open(context: StoreContext): Promise<StoreLoad>;
  /**
   * Records a new job (version 1). With `job.key` set, and a busy job holding the same key (the key
   * string is `category`, `target` and `key` together), that job is answered and nothing is written.
   * A retry without a `key` is held the same way by the busy retry of the same job (`retryOf`): see
   * {@link idempotencyKey}.
   */
  create(job: Job, options?: WriteOptions): Promise<CreateResult>;
  /** Records the next version of a job, if the stored version is `job.version - 1`. */
  write(job: Job, options?: WriteOptions): Promise<WriteResult>;
  /**
   * Adds a line to a job's log (keeping the newest `StoreContext.logLines`), numbering it with the
   * job's next `seq`, and records it as an event like any change.
   */
  appendLog(job: Job, line: Omit<LogLine, 'seq'>): Promise<JobEvent>;
  /** The events after `lastEventId`, if every one of them is still held; otherwise a resync. */
  eventsSince(lastEventId: string): Promise<Replay>;
  /** Forgets finished jobs past their retention, and their logs. */
  remove(ids: readonly string[]): Promise<void>;
  /** Resolves when everything recorded so far is durable (or has failed and is being retried). */
  flush(): Promise<void>;
  /** Flushes, then releases the store (its lock, its files, its connections). */
  close(): Promise<void>;
  health(): StoreHealth;
}

/**
 * The idempotency key of a job, as stores index it: category, target and key together. A retry
 * without a key is keyed by the job it retries, so that two retries of one job at once (a double
 * click reaching two instances) make one job, whichever instance each reached.
 */
export function idempotencyKey(job: Job): string | null {
  if (job.key === null) return job.retryOf === null ? null : JSON.stringify(['retry', job.retryOf]);
  const entries = Object.entries(job.target).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([job.category, entries, job.key]);
}
