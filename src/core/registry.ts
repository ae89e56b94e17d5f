import { nanoid } from 'nanoid';
import { errorMessage, JobsError } from '../protocol/errors.js';
import { canTransition, isBusy, isTerminal, type Job, type JobLimits, type JsonObject } from '../protocol/job.js';
import { parseEventId } from '../protocol/wire.js';
import { memoryStore } from '../stores/memory.js';
import { compileFilter, type JobFilter } from './filter.js';
import { integerOption } from './options.js';
import type { JobStore, StoreHealth } from './store.js';
import { createJobValidator, type EnqueueInput, type JobPatch } from './validate.js';

/** One change of one job, as subscribers and streams receive it. */
export interface JobEvent {
  /** Event id assigned by the store: `<epoch>-<sequence>`, increasing. */
  readonly id: string;
  readonly job: Job;
}

export interface JobRegistryOptions {
  /** Where jobs persist. @default memoryStore() */
  store?: JobStore;
  /** How long a finished job is kept. @default 86_400_000 (24 h) */
  retentionMs?: number;
  /** Field limits; see {@link JobLimits}. */
  limits?: Partial<JobLimits>;
  /** How many recent events are kept for `Last-Event-ID` replay. @default 1000 */
  replayBufferSize?: number;
  /**
   * Faults the registry recovered from: a failing disk, unreadable log lines, a throwing subscriber.
   * @default logs to `console.error`
   */
  onError?: (error: Error) => void;
}

/** What `run()`'s work function receives. */
export interface JobContext {
  readonly jobId: string;
  /** The job's current snapshot. */
  readonly job: Job;
  /** Aborted when the job is cancelled, times out, or the registry closes. */
  readonly signal: AbortSignal;
  /** Sets progress (0..1, or null for indeterminate), optionally with a phase and message. */
  progress(value: number | null, details?: { phase?: string | null; message?: string | null }): void;
  /** Sets phase, message, progress or data without changing the state. */
  update(patch: Omit<JobPatch, 'state'>): void;
  /** The job ends as `warning` (not `success`) with this message when the work returns. */
  warn(message: string): void;
  /** The job ends as `pending` (waiting for a person) with this message when the work returns. */
  awaitApproval(message: string): void;
}

/** What `run()`'s work function may return: a JSON object becomes the job's `data`. */
// biome-ignore lint/suspicious/noConfusingVoidType: work functions that return nothing are typed `void`
export type JobWork = (ctx: JobContext) => Promise<JsonObject | undefined | void> | JsonObject | undefined | void;

export interface RunOptions {
  /** The job ends as `error` and its signal aborts after this long. */
  timeoutMs?: number;
}

export interface ListOptions extends JobFilter {
  /** 1..500. @default 50 */
  limit?: number;
}

/** What `eventsSince()` answers: the exact missed events, or a resync when they are not all held. */
export type Replay = { kind: 'replay'; events: JobEvent[] } | { kind: 'resync'; reason: string };

export interface RegistryHealth {
  ok: boolean;
  closed: boolean;
  jobs: number;
  busy: number;
  subscribers: number;
  store: StoreHealth & { kind: string };
}

export interface JobRegistry {
  /** Creates a job (state `queued` unless given) and returns its snapshot. */
  enqueue(input: EnqueueInput): Job;
  /** Applies a patch to a busy job and returns the new snapshot. */
  update(id: string, patch: JobPatch): Job;
  get(id: string): Job | undefined;
  /** Newest first. */
  list(options?: ListOptions): Job[];
  /** Calls `listener` with every change matching the filter; returns the unsubscribe function. */
  subscribe(filter: JobFilter, listener: (event: JobEvent) => void): () => void;
  /** Enqueues a job and runs `work` in the background; returns the queued snapshot at once. */
  run(input: EnqueueInput, work: JobWork, options?: RunOptions): Job;
  /** Ends a busy job as `cancelled` and aborts its work. A finished job is returned as it is. */
  cancel(id: string, message?: string): Job;
  /** The events after `lastEventId`, if every one of them is still buffered. */
  eventsSince(lastEventId: string): Replay;
  /** The id of the newest event. */
  head(): string;
  health(): RegistryHealth;
  /** Called when the registry closes (streams end themselves here). Returns the unsubscribe function. */
  onClose(listener: () => void): () => void;
  /** Aborts running work, finishes busy jobs as `error`, ends streams, flushes and releases the store. */
  close(): Promise<void>;
  readonly closed: boolean;
  readonly limits: Readonly<JobLimits>;
}

export const RESTART_MESSAGE = 'The server restarted before this job finished.';
export const SHUTDOWN_MESSAGE = 'The server shut down before this job finished.';
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * Creates a registry and loads what its store holds: `queued` and `running` jobs of a process that
 * died are finished as `error`; `pending` jobs (waiting on a person) are kept.
 *
 * @example
 * const jobs = await createJobRegistry({ store: jsonlStore({ path: 'data/realtime_jobs.jsonl' }) });
 */
export async function createJobRegistry(options: JobRegistryOptions = {}): Promise<JobRegistry> {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', 'createJobRegistry: options must be an object');
  }
  const store = options.store ?? memoryStore();
  if (typeof store?.open !== 'function' || typeof store.save !== 'function') {
    throw new JobsError(
      'invalid_options',
      'createJobRegistry: `store` must be a JobStore (memoryStore(), jsonlStore(…))',
      {
        field: 'store',
      },
    );
  }
  const retentionMs = integerOption('createJobRegistry', 'retentionMs', options.retentionMs, DAY_MS, 1);
  const replayBufferSize = integerOption('createJobRegistry', 'replayBufferSize', options.replayBufferSize, 1000, 0);
  const onError = options.onError ?? ((error: Error) => console.error(`[realtime-jobs] ${error.message}`));
  if (typeof onError !== 'function') {
    throw new JobsError('invalid_options', 'createJobRegistry: `onError` must be a function', { field: 'onError' });
  }
  const validator = createJobValidator(options.limits ?? {});

  const loaded = await store.open({ parseJob: validator.storedJob, onError });
  const registry = new Registry(store, validator, retentionMs, replayBufferSize, onError);
  registry.bootstrap(loaded.jobs);
  return registry;
}

interface Listener {
  matches: (job: Job) => boolean;
  callback: (event: JobEvent) => void;
}

interface RunningWork {
  controller: AbortController;
  timer: NodeJS.Timeout | null;
}

class Registry implements JobRegistry {
  /** Insertion order is queue order, so iterating backwards gives newest first. */
  readonly #jobs = new Map<string, Job>();
  /** Busy jobs by idempotency key. */
  readonly #byKey = new Map<string, string>();
  readonly #keyOf = new Map<string, string>();
  readonly #listeners = new Set<Listener>();
  readonly #closeListeners = new Set<() => void>();
  readonly #work = new Map<string, RunningWork>();
  /** Recent events, oldest first, for `Last-Event-ID` replay. */
  readonly #buffer: Array<{ sequence: number; event: JobEvent }> = [];
  readonly #pruneTimer: NodeJS.Timeout;
  #closed = false;

  constructor(
    readonly store: JobStore,
    readonly validator: ReturnType<typeof createJobValidator>,
    readonly retentionMs: number,
    readonly replayBufferSize: number,
    readonly onError: (error: Error) => void,
  ) {
    this.#pruneTimer = setInterval(() => this.#prune(), Math.min(retentionMs, 60_000));
    this.#pruneTimer.unref();
  }

  get closed() {
    return this.#closed;
  }

  get limits() {
    return this.validator.limits;
  }

  bootstrap(jobs: Job[]) {
    const now = new Date().toISOString();
    for (const job of [...jobs].sort((a, b) => a.queuedAt.localeCompare(b.queuedAt))) {
      this.#jobs.set(job.id, Object.freeze(job));
      if (job.state === 'queued' || job.state === 'running') {
        this.#commit(job, { state: 'error', message: RESTART_MESSAGE }, now);
      }
    }
    this.#prune();
  }

  enqueue(input: EnqueueInput): Job {
    return this.#enqueue(input).job;
  }

  #enqueue(input: EnqueueInput): { job: Job; created: boolean } {
    this.#assertOpen();
    const valid = this.validator.enqueueInput(input);
    const target = valid.target ?? {};
    const key = valid.key === undefined ? undefined : keyOf(valid.category, target, valid.key);
    if (key !== undefined) {
      const existing = this.#byKey.get(key);
      const job = existing === undefined ? undefined : this.#jobs.get(existing);
      if (job && isBusy(job.state)) return { job, created: false };
    }
    const now = new Date().toISOString();
    const state = valid.state ?? 'queued';
    const job: Job = Object.freeze({
      id: nanoid(),
      category: valid.category,
      target: Object.freeze({ ...target }),
      scope: valid.scope ?? 'admin',
      state,
      phase: valid.phase ?? null,
      progress: valid.progress ?? null,
      message: valid.message ?? null,
      data: Object.freeze(valid.data ?? {}),
      queuedAt: now,
      startedAt: state === 'running' ? now : null,
      finishedAt: null,
      updatedAt: now,
      version: 1,
    });
    this.#jobs.set(job.id, job);
    if (key !== undefined) {
      this.#byKey.set(key, job.id);
      this.#keyOf.set(job.id, key);
    }
    this.#emit(job);
    return { job, created: true };
  }

  update(id: string, patch: JobPatch): Job {
    this.#assertOpen();
    const job = this.#require(id);
    const valid = this.validator.patch(id, patch);
    if (isTerminal(job.state)) {
      throw new JobsError('invalid_transition', `Job ${id} is ${job.state} and a finished job never changes`, {
        jobId: id,
        field: 'state',
      });
    }
    if (valid.state !== undefined && !canTransition(job.state, valid.state)) {
      throw new JobsError('invalid_transition', `Job ${id} cannot go from ${job.state} to ${valid.state}`, {
        jobId: id,
        field: 'state',
      });
    }
    return this.#commit(job, valid, new Date().toISOString());
  }

  get(id: string): Job | undefined {
    return typeof id === 'string' ? this.#jobs.get(id) : undefined;
  }

  list(options: ListOptions = {}): Job[] {
    const { limit = 50, ...filter } = options ?? {};
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500) {
      throw new JobsError('invalid_input', 'list: `limit` must be an integer from 1 to 500', { field: 'limit' });
    }
    const matches = compileFilter(filter);
    const jobs = [...this.#jobs.values()];
    const result: Job[] = [];
    for (let i = jobs.length - 1; i >= 0 && result.length < limit; i--) {
      const job = jobs[i] as Job;
      if (matches(job)) result.push(job);
    }
    return result;
  }

  subscribe(filter: JobFilter, callback: (event: JobEvent) => void): () => void {
    if (typeof callback !== 'function') {
      throw new JobsError('invalid_input', 'subscribe: the listener must be a function', { field: 'listener' });
    }
    const listener: Listener = { matches: compileFilter(filter), callback };
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  run(input: EnqueueInput, work: JobWork, options: RunOptions = {}): Job {
    if (typeof work !== 'function') {
      throw new JobsError('invalid_input', 'run: the work must be a function', { field: 'work' });
    }
    const timeoutMs = options?.timeoutMs;
    if (timeoutMs !== undefined && (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1)) {
      throw new JobsError('invalid_input', 'run: `timeoutMs` must be a positive integer', { field: 'timeoutMs' });
    }
    const { job: queued, created } = this.#enqueue(input);
    if (!created) return queued; // an idempotent hit: that job is already under way
    const running: RunningWork = { controller: new AbortController(), timer: null };
    this.#work.set(queued.id, running);
    setImmediate(() => void this.#execute(queued.id, work, running, timeoutMs));
    return queued;
  }

  async #execute(id: string, work: JobWork, running: RunningWork, timeoutMs: number | undefined) {
    const { signal } = running.controller;
    let ending: { state: 'warning' | 'pending'; message: string } | null = null;
    const self = this;
    const alive = () => !signal.aborted && !this.#closed && isBusy(this.#require(id).state);
    const apply = (patch: JobPatch) => {
      if (alive()) this.update(id, patch);
    };
    const ctx: JobContext = {
      jobId: id,
      get job() {
        return self.#require(id);
      },
      signal,
      progress: (value, details = {}) => apply({ progress: value, ...details }),
      update: (patch) => apply(stripState(patch)),
      warn: (message) => {
        ending = { state: 'warning', message: String(message) };
      },
      awaitApproval: (message) => {
        ending = { state: 'pending', message: String(message) };
      },
    };
    try {
      if (!alive()) return;
      this.update(id, { state: 'running' });
      if (timeoutMs !== undefined) {
        running.timer = setTimeout(() => {
          if (!alive()) return;
          this.update(id, { state: 'error', message: `Timed out after ${timeoutMs} ms` });
          running.controller.abort(new JobsError('closed', `Job ${id} timed out after ${timeoutMs} ms`, { jobId: id }));
        }, timeoutMs);
        running.timer.unref();
      }
      const result = await work(ctx);
      if (!alive()) return;
      const data = result === undefined || result === null ? undefined : result;
      const end = ending as { state: 'warning' | 'pending'; message: string } | null;
      try {
        this.update(id, {
          state: end?.state ?? 'success',
          ...(end ? { message: end.message } : {}),
          ...(data !== undefined ? { data } : {}),
        });
      } catch (error) {
        // The result itself was invalid (not JSON, too large): say so instead of leaving the job busy.
        if (alive())
          this.update(id, { state: 'error', message: errorMessage(error).slice(0, this.limits.messageLength) });
      }
    } catch (error) {
      if (alive())
        this.update(id, { state: 'error', message: errorMessage(error).slice(0, this.limits.messageLength) });
    } finally {
      if (running.timer) clearTimeout(running.timer);
      this.#work.delete(id);
    }
  }

  cancel(id: string, message = 'Cancelled'): Job {
    this.#assertOpen();
    const job = this.#require(id);
    if (isTerminal(job.state)) return job;
    const cancelled = this.update(id, { state: 'cancelled', message });
    this.#work.get(id)?.controller.abort(new JobsError('closed', `Job ${id} was cancelled`, { jobId: id }));
    return cancelled;
  }

  eventsSince(lastEventId: string): Replay {
    const parsed = typeof lastEventId === 'string' ? parseEventId(lastEventId) : null;
    if (!parsed) return { kind: 'resync', reason: 'malformed event id' };
    const head = parseEventId(this.store.head());
    if (!head || parsed.epoch !== head.epoch) return { kind: 'resync', reason: 'event id from another epoch' };
    if (parsed.major > head.major) return { kind: 'resync', reason: 'event id newer than any sent' };
    const oldest = this.#buffer[0]?.sequence ?? head.major + 1;
    if (parsed.major < oldest - 1) return { kind: 'resync', reason: 'event id older than the replay buffer' };
    const events: JobEvent[] = [];
    for (const entry of this.#buffer) if (entry.sequence > parsed.major) events.push(entry.event);
    return { kind: 'replay', events };
  }

  head(): string {
    return this.store.head();
  }

  health(): RegistryHealth {
    const store = { kind: this.store.kind, ...this.store.health() };
    let busy = 0;
    for (const job of this.#jobs.values()) if (isBusy(job.state)) busy++;
    return {
      ok: store.ok && !this.#closed,
      closed: this.#closed,
      jobs: this.#jobs.size,
      busy,
      subscribers: this.#listeners.size,
      store,
    };
  }

  onClose(listener: () => void): () => void {
    if (this.#closed) {
      queueMicrotask(listener);
      return () => {};
    }
    this.#closeListeners.add(listener);
    return () => {
      this.#closeListeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    clearInterval(this.#pruneTimer);
    const now = new Date().toISOString();
    for (const job of this.#jobs.values()) {
      if (job.state === 'queued' || job.state === 'running') {
        this.#commit(job, { state: 'error', message: SHUTDOWN_MESSAGE }, now);
      }
    }
    this.#closed = true;
    for (const running of this.#work.values()) {
      if (running.timer) clearTimeout(running.timer);
      running.controller.abort(new JobsError('closed', 'The job registry closed'));
    }
    for (const listener of this.#closeListeners) this.#safely(listener);
    this.#closeListeners.clear();
    this.#listeners.clear();
    await this.store.close();
  }

  #commit(job: Job, patch: JobPatch, now: string): Job {
    const state = patch.state ?? job.state;
    const next: Job = Object.freeze({
      ...job,
      state,
      phase: patch.phase !== undefined ? patch.phase : job.phase,
      progress:
        patch.progress !== undefined ? patch.progress : state === 'success' || state === 'warning' ? 1 : job.progress,
      message: patch.message !== undefined ? patch.message : job.message,
      data: patch.data !== undefined ? Object.freeze(patch.data) : job.data,
      startedAt: job.startedAt ?? (state === 'running' ? now : null),
      finishedAt: isTerminal(state) ? now : null,
      updatedAt: now,
      version: job.version + 1,
    });
    this.#jobs.set(next.id, next);
    if (isTerminal(state)) {
      const key = this.#keyOf.get(next.id);
      if (key !== undefined) {
        this.#keyOf.delete(next.id);
        if (this.#byKey.get(key) === next.id) this.#byKey.delete(key);
      }
    }
    this.#emit(next);
    return next;
  }

  #emit(job: Job) {
    const event: JobEvent = Object.freeze({ id: this.store.save(job), job });
    if (this.replayBufferSize > 0) {
      const parsed = parseEventId(event.id);
      if (parsed) {
        this.#buffer.push({ sequence: parsed.major, event });
        if (this.#buffer.length > this.replayBufferSize) this.#buffer.shift();
      }
    }
    // Runs once per subscriber per change (thousands of streams): no closure per call.
    for (const listener of this.#listeners) {
      if (!listener.matches(job)) continue;
      try {
        listener.callback(event);
      } catch (error) {
        this.#reportListenerError(error);
      }
    }
  }

  #prune() {
    const cutoff = Date.now() - this.retentionMs;
    const removed: string[] = [];
    for (const job of this.#jobs.values()) {
      if (job.finishedAt !== null && Date.parse(job.finishedAt) < cutoff) removed.push(job.id);
    }
    for (const id of removed) this.#jobs.delete(id);
    if (removed.length > 0) this.store.remove(removed);
  }

  #require(id: string): Job {
    const job = typeof id === 'string' ? this.#jobs.get(id) : undefined;
    if (!job) throw new JobsError('not_found', `No job with id ${JSON.stringify(id)}`, { jobId: String(id) });
    return job;
  }

  #assertOpen() {
    if (this.#closed) throw new JobsError('closed', 'The job registry is closed');
  }

  #safely(fn: () => void) {
    try {
      fn();
    } catch (error) {
      this.#reportListenerError(error);
    }
  }

  #reportListenerError(error: unknown) {
    this.onError(new Error(`a job listener threw: ${errorMessage(error)}`, { cause: error }));
  }
}

function stripState(patch: Omit<JobPatch, 'state'>): JobPatch {
  if (patch && typeof patch === 'object' && 'state' in patch) {
    throw new JobsError('invalid_input', 'ctx.update: `state` is set by how the work ends (return, throw, warn)', {
      field: 'state',
    });
  }
  return patch;
}

function keyOf(category: string, target: Record<string, string>, key: string): string {
  const entries = Object.entries(target).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([category, entries, key]);
}
