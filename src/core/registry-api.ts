// What a registry offers and takes: its interface, options and the messages it ends jobs with. The
// implementation is in registry.ts; these types stand apart so the interface reads on its own.
import type { Job, JobLimits, JsonObject, LogLine } from '../protocol/job.js';
import type { DefinitionRunOptions, JobDefinition, JobDefinitionOptions } from './definitions.js';
import type { JobFilter } from './filter.js';
import type { RegistryInstrumentation } from './instrumentation.js';
import type { JobWork, RunOptions } from './runner.js';
import type { JobEvent, JobStore, Replay, StoreHealth } from './store.js';
import type { EnqueueInput, JobPatch } from './validate.js';

export interface JobRegistryOptions {
  /** Where jobs persist. @default memoryStore() */
  store?: JobStore;
  /** How long a finished job is kept. At most 2³¹−1 ms (about 24.8 days). @default 86_400_000 (24 h) */
  retentionMs?: number;
  /** Field limits; see {@link JobLimits}. */
  limits?: Partial<JobLimits>;
  /**
   * Faults the registry recovered from: a failing disk, unreadable log lines, a throwing subscriber.
   * @default logs to `console.error`
   */
  onError?: (error: Error) => void;
  /**
   * Hooks for telemetry: `openTelemetryInstrumentation()` from `realtime-jobs/otel`, or your own
   * {@link RegistryInstrumentation}. Without it nothing is wrapped, timed or called.
   */
  instrumentation?: RegistryInstrumentation;
}

export interface ListOptions extends JobFilter {
  /** 1..500. @default 50 */
  limit?: number;
}

/** Where a page of jobs ends: the last job's `queuedAt` and `id`. */
export interface ListPosition {
  queuedAt: string;
  id: string;
}

export interface PageOptions extends ListOptions {
  /** Only jobs after this position (older, in the page order): a previous page's `next`. */
  before?: ListPosition;
}

/** One page of a list, and where the next one starts (null: this was the last). */
export interface JobPage {
  jobs: Job[];
  next: ListPosition | null;
}

export interface RegistryHealth {
  ok: boolean;
  closed: boolean;
  jobs: number;
  busy: number;
  subscribers: number;
  store: StoreHealth & { kind: string };
}

/** Who acts, for the job's message (`Approved by admin`). */
export interface ActionOptions {
  by?: string;
}

export interface JobRegistry {
  /**
   * Registers how jobs of `category` run: their work, concurrency, timeout, retries and approval.
   * Register the same definitions on every instance that shares a store.
   */
  define<Input extends JsonObject = JsonObject, Result extends JsonObject = JsonObject>(
    category: string,
    work: JobWork<Input, Result>,
    options?: JobDefinitionOptions<Input, Result>,
  ): JobDefinition<Input, Result>;
  /** Creates a job (state `queued` unless given) and resolves with its snapshot once it is recorded. */
  enqueue(input: EnqueueInput): Promise<Job>;
  /** Applies a patch to a busy job and resolves with the new snapshot once it is recorded. */
  update(id: string, patch: JobPatch): Promise<Job>;
  /** The newest snapshot this instance holds. */
  get(id: string): Job | undefined;
  /** Newest first, in page order: the first page of {@link page}. */
  list(options?: ListOptions): Job[];
  /**
   * One page of jobs, newest first by `queuedAt`, then by `id`: an order every instance agrees on, so
   * a page's `next` (pass it as `before`) continues the list on any instance, without a job twice or
   * missed while new jobs arrive. Jobs one instance queues in the same millisecond keep their creation
   * order (ids sort by creation). A list or page reads only the jobs its narrowest filter field holds.
   */
  page(options?: PageOptions): JobPage;
  /** The job's kept log lines, oldest first (empty for an unknown job). */
  logs(id: string): LogLine[];
  /**
   * Calls `listener` with every change matching the filter; with `{ logs: true }` also with every log
   * line (an event with `log` set). Returns the unsubscribe function.
   */
  subscribe(filter: JobFilter, listener: (event: JobEvent) => void, options?: { logs?: boolean }): () => void;
  /**
   * Queues a job of a definition with this input; resolves with the queued snapshot (or, with a
   * `key` held by a busy job, with that job). The job starts when its concurrency allows.
   */
  run(category: string, input: JsonObject, options?: DefinitionRunOptions): Promise<Job>;
  /**
   * Enqueues a job and runs `work` in the background; resolves with the queued snapshot at once. With an
   * idempotency `key` held by a busy job, resolves with that job and runs nothing.
   */
  run(input: EnqueueInput, work: JobWork, options?: RunOptions): Promise<Job>;
  /** Ends a busy job as `cancelled` and aborts its work. A finished job is answered as it is. */
  cancel(id: string, message?: string): Promise<Job>;
  /**
   * Runs a finished job's definition again with the same input: a new job, `retryOf` the old. While a
   * retry of that job is still busy here, answers it instead of running the work twice.
   */
  retry(id: string, options?: ActionOptions): Promise<Job>;
  /** Resumes a `pending` job: its definition's `onApprove` (or its work) runs, with `ctx.approval`. */
  approve(id: string, options?: ActionOptions): Promise<Job>;
  /** Ends a `pending` job as `cancelled` and calls its definition's `onReject`. */
  reject(id: string, options?: ActionOptions & { message?: string }): Promise<Job>;
  /** The events after `lastEventId`, if every one of them is still held. */
  eventsSince(lastEventId: string): Promise<Replay>;
  /** The id of the newest event this instance has applied. */
  head(): string;
  health(): RegistryHealth;
  /**
   * Called when the store lost its history (a Redis restart without persistence) and the registry
   * reloaded what it holds now. The routes end their streams here, so clients resync. Returns the
   * unsubscribe function.
   */
  onReset(listener: () => void): () => void;
  /** Called when the registry closes (streams end themselves here). Returns the unsubscribe function. */
  onClose(listener: () => void): () => void;
  /** Aborts running work, finishes its busy jobs as `error`, ends streams, flushes and releases the store. */
  close(): Promise<void>;
  readonly closed: boolean;
  readonly limits: Readonly<JobLimits>;
}

export const RESTART_MESSAGE = 'The server restarted before this job finished.';
export const SHUTDOWN_MESSAGE = 'The server shut down before this job finished.';
export const LEASE_MESSAGE = 'The instance running this job stopped before it finished.';
