// About 500 lines on purpose: the documented JobRegistry interface, its factory, and one class whose
// state moves together on every change (the jobs held, the per-job write queues, which jobs this
// instance owns, the listeners), with the store's events coming back through `apply()`; split, those
// invariants would be read across files. The parts that stand
// alone already live beside it: input checks (validate.ts), the next snapshot (next-version.ts), the
// work runner (runner.ts), filters (filter.ts) and the store interface (store.ts).

import { nanoid } from 'nanoid';
import { errorMessage, JobsError } from '../protocol/errors.js';
import { canTransition, isBusy, isTerminal, type Job, type JobLimits } from '../protocol/job.js';
import { LIST_LIMIT } from '../protocol/wire.js';
import { memoryStore } from '../stores/memory.js';
import { compileFilter, type JobFilter } from './filter.js';
import { applyPatch } from './next-version.js';
import { functionOption, logError, timerOption } from './options.js';
import { createRunner, type JobWork, type RunOptions } from './runner.js';
import {
  type JobEvent,
  type JobStore,
  needsRunner,
  RESYNC_REASON,
  type Replay,
  type StoreHealth,
  type StoreLoad,
} from './store.js';
import { createJobValidator, type EnqueueInput, type JobPatch, type JobValidator } from './validate.js';

export type { JobContext, JobWork, RunOptions } from './runner.js';
export type { JobEvent, Replay } from './store.js';

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
}

export interface ListOptions extends JobFilter {
  /** 1..500. @default 50 */
  limit?: number;
}

export interface RegistryHealth {
  ok: boolean;
  closed: boolean;
  jobs: number;
  busy: number;
  subscribers: number;
  store: StoreHealth & { kind: string };
}

export interface JobRegistry {
  /** Creates a job (state `queued` unless given) and resolves with its snapshot once it is recorded. */
  enqueue(input: EnqueueInput): Promise<Job>;
  /** Applies a patch to a busy job and resolves with the new snapshot once it is recorded. */
  update(id: string, patch: JobPatch): Promise<Job>;
  /** The newest snapshot this instance holds. */
  get(id: string): Job | undefined;
  /** Newest first. */
  list(options?: ListOptions): Job[];
  /** Calls `listener` with every change matching the filter; returns the unsubscribe function. */
  subscribe(filter: JobFilter, listener: (event: JobEvent) => void): () => void;
  /**
   * Enqueues a job and runs `work` in the background; resolves with the queued snapshot at once. With an
   * idempotency `key` held by a busy job, resolves with that job and runs nothing.
   */
  run(input: EnqueueInput, work: JobWork, options?: RunOptions): Promise<Job>;
  /** Ends a busy job as `cancelled` and aborts its work. A finished job is answered as it is. */
  cancel(id: string, message?: string): Promise<Job>;
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
const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * A write that loses to another instance is retried on the version that won, this many times at
 * most, with a short random pause after the first retries so racing writers spread out.
 */
const WRITE_ATTEMPTS = 50;

/**
 * Creates a registry and loads what its store holds. Busy jobs whose runner is gone (a process that
 * died, an instance whose lease ran out) are finished as `error`; `pending` jobs (waiting on a
 * person) are kept.
 *
 * @example
 * const jobs = await createJobRegistry({ store: jsonlStore({ path: 'data/realtime_jobs.jsonl' }) });
 */
export async function createJobRegistry(options: JobRegistryOptions = {}): Promise<JobRegistry> {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', 'createJobRegistry: options must be an object', { field: 'options' });
  }
  for (const key of Object.keys(options)) {
    if (!['store', 'retentionMs', 'limits', 'onError'].includes(key)) {
      const hint = key === 'replayBufferSize' ? ' (it is a store option now: memoryStore({ replayBufferSize }))' : '';
      throw new JobsError('invalid_options', `createJobRegistry: \`${key}\` is not an option${hint}`, { field: key });
    }
  }
  const store = options.store ?? memoryStore();
  if (typeof store?.open !== 'function' || typeof store.write !== 'function') {
    throw new JobsError('invalid_options', 'createJobRegistry: `store` must be a JobStore (memoryStore(), …)', {
      field: 'store',
    });
  }
  const retentionMs = timerOption('createJobRegistry', 'retentionMs', options.retentionMs, DAY_MS, 1);
  const onError = functionOption('createJobRegistry', 'onError', options.onError, logError);
  const validator = createJobValidator(options.limits ?? {});

  const registry = new Registry(store, validator, retentionMs, onError);
  const loaded = await store.open({
    parseJob: validator.storedJob,
    onError: (error) => registry.report(error),
    onEvent: (event) => registry.apply(event),
    onOrphan: (job) => registry.endOrphan(job, LEASE_MESSAGE),
    onReset: (load) => registry.reset(load),
  });
  await registry.load(loaded, RESTART_MESSAGE);
  return registry;
}

interface PendingWrite {
  patch: JobPatch;
  resolve: (job: Job) => void;
  reject: (error: unknown) => void;
}

interface Listener {
  matches: (job: Job) => boolean;
  callback: (event: JobEvent) => void;
}

class Registry implements JobRegistry {
  /** Every job this instance knows, newest snapshot. Insertion order is queue order: newest last. */
  readonly #jobs = new Map<string, Job>();
  readonly #listeners = new Set<Listener>();
  readonly #closeListeners = new Set<() => void>();
  /** Queued and running jobs this instance owns (it created or runs them): a shared store leases them. */
  readonly #owned = new Set<string>();
  /** Patches waiting to be written, per job; the first entry's write may be in flight. */
  readonly #writes = new Map<string, PendingWrite[]>();
  readonly #resetListeners = new Set<() => void>();
  readonly #runner: ReturnType<typeof createRunner>;
  readonly #pruneTimer: ReturnType<typeof setInterval>;
  #head = '';
  #closed = false;

  constructor(
    readonly store: JobStore,
    readonly validator: JobValidator,
    readonly retentionMs: number,
    readonly onError: (error: Error) => void,
  ) {
    this.#runner = createRunner({
      create: (input) => this.#create(input),
      check: (id, patch) => this.validator.patch(id, patch),
      write: (id, patch) => this.#write(id, patch),
      get: (id) => this.#jobs.get(id),
      limits: validator.limits,
      isClosed: () => this.#closed,
      report: (error) => this.report(error),
    });
    this.#pruneTimer = setInterval(() => this.#prune(), Math.min(retentionMs, 60_000));
    (this.#pruneTimer as { unref?: () => void }).unref?.();
  }

  get closed() {
    return this.#closed;
  }

  get limits() {
    return this.validator.limits;
  }

  /** Takes what the store loaded, then finishes the jobs whose runner is gone. */
  async load(loaded: StoreLoad, orphanMessage: string): Promise<void> {
    this.#jobs.clear();
    for (const job of [...loaded.jobs].sort((a, b) => a.queuedAt.localeCompare(b.queuedAt))) {
      this.#jobs.set(job.id, Object.freeze(job));
    }
    this.#head = loaded.head;
    await Promise.all(loaded.orphans.map((job) => this.endOrphan(job, orphanMessage)));
    this.#prune();
  }

  /** The store lost its history and opened a new epoch: what it holds now is the truth. */
  reset(loaded: StoreLoad) {
    void this.load(loaded, LEASE_MESSAGE);
    // Streams end, and their clients resync: the ids they hold belong to the old epoch.
    for (const listener of this.#resetListeners) this.#safely(listener, 'a reset listener');
  }

  /** Ends a job whose runner is gone; a conflict means another instance did it first. */
  endOrphan(job: Job, message: string): Promise<void> {
    if (!this.#jobs.has(job.id)) this.#jobs.set(job.id, Object.freeze(job));
    return this.#write(job.id, { state: 'error', message }).then(
      () => {},
      (error) => {
        if (!(error instanceof JobsError) || error.code === 'unavailable') this.report(error);
      },
    );
  }

  /** Applies one change from the store (this instance's or another's) and fans it out. */
  apply(event: JobEvent) {
    this.#head = event.id;
    const job = event.job;
    const held = this.#jobs.get(job.id);
    if (held && held.version >= job.version) return; // already applied (loaded state, a replayed event)
    this.#jobs.set(job.id, Object.freeze(job));
    if (!needsRunner(job.state)) this.#owned.delete(job.id);
    if (isTerminal(job.state)) this.#runner.ended(job.id);
    // Runs once per subscriber per change (thousands of streams): no closure per call.
    for (const listener of this.#listeners) {
      if (!listener.matches(job)) continue;
      try {
        listener.callback(event);
      } catch (error) {
        this.report(new Error(`a job listener threw: ${errorMessage(error)}`, { cause: error }));
      }
    }
  }

  report(error: unknown) {
    try {
      this.onError(error instanceof Error ? error : new Error(errorMessage(error)));
    } catch {
      // An onError that throws must not take the registry down with it.
    }
  }

  async enqueue(input: EnqueueInput): Promise<Job> {
    return (await this.#create(input)).job;
  }

  async #create(input: EnqueueInput): Promise<{ job: Job; created: boolean }> {
    this.#assertOpen();
    const valid = this.validator.enqueueInput(input);
    const now = new Date().toISOString();
    const state = valid.state ?? 'queued';
    const job: Job = Object.freeze({
      id: nanoid(),
      category: valid.category,
      target: Object.freeze({ ...(valid.target ?? {}) }),
      scope: valid.scope ?? 'admin',
      state,
      phase: valid.phase ?? null,
      progress: valid.progress ?? null,
      message: valid.message ?? null,
      data: Object.freeze(valid.data ?? {}),
      key: valid.key ?? null,
      queuedAt: now,
      startedAt: state === 'running' ? now : null,
      finishedAt: null,
      updatedAt: now,
      version: 1,
    });
    const owned = state !== 'pending';
    const result = await this.store.create(job, { lease: owned });
    if (!result.created) return { job: result.job, created: false };
    if (owned) this.#owned.add(job.id);
    return { job: this.#jobs.get(job.id) ?? result.event.job, created: true };
  }

  async update(id: string, patch: JobPatch): Promise<Job> {
    this.#assertOpen();
    this.#require(id);
    return this.#write(id, this.validator.patch(id, patch));
  }

  /**
   * Writes a checked patch, one write per job at a time (later patches wait, and those that queue up
   * behind a write in flight go out together). A write that loses to another instance is retried on
   * the version that won, so the patch is never applied to a stale job.
   */
  #write(id: string, patch: JobPatch): Promise<Job> {
    const queue = this.#writes.get(id);
    return new Promise<Job>((resolve, reject) => {
      const pending = { patch, resolve, reject };
      if (queue) {
        queue.push(pending);
        return;
      }
      this.#writes.set(id, [pending]);
      void this.#drain(id);
    });
  }

  async #drain(id: string) {
    for (;;) {
      const queue = this.#writes.get(id) ?? [];
      // Patches without a state merge into the next one: a flood of progress becomes one write.
      let take = 0;
      while (take < queue.length && queue[take]?.patch.state === undefined) take++;
      take = Math.min(take + 1, queue.length);
      const batch = queue.splice(0, take);
      if (batch.length === 0) {
        this.#writes.delete(id);
        return;
      }
      const patch: JobPatch = Object.assign({}, ...batch.map((entry) => entry.patch));
      try {
        const job = await this.#commit(id, patch);
        for (const entry of batch) entry.resolve(job);
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
  }

  async #commit(id: string, patch: JobPatch): Promise<Job> {
    for (let attempt = 1; ; attempt++) {
      const current = this.#require(id);
      if (isTerminal(current.state)) {
        throw new JobsError('invalid_transition', `Job ${id} is ${current.state} and a finished job never changes`, {
          jobId: id,
          field: 'state',
        });
      }
      if (patch.state !== undefined && !canTransition(current.state, patch.state)) {
        throw new JobsError('invalid_transition', `Job ${id} cannot go from ${current.state} to ${patch.state}`, {
          jobId: id,
          field: 'state',
        });
      }
      const next = applyPatch(current, patch, new Date().toISOString());
      const live = needsRunner(next.state);
      // Whoever brings a job back to work (an approval of a pending job) owns it from then on.
      if (live && current.state === 'pending') this.#owned.add(id);
      const lease = live && this.#owned.has(id);
      const result = await this.store.write(next, { lease });
      if (result.ok) return this.#jobs.get(id) ?? result.event.job;
      if (!result.current) throw new JobsError('not_found', `No job with id ${JSON.stringify(id)}`, { jobId: id });
      // Another writer won: take its version (its event is on the way) and try again on top of it.
      if (result.current.version > current.version) this.#jobs.set(id, Object.freeze(result.current));
      if (attempt >= WRITE_ATTEMPTS) {
        throw new JobsError('conflict', `Job ${id} kept changing under this write; try again`, { jobId: id });
      }
      if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(attempt, 20)));
    }
  }

  get(id: string): Job | undefined {
    return typeof id === 'string' ? this.#jobs.get(id) : undefined;
  }

  list(options: ListOptions = {}): Job[] {
    const { limit = LIST_LIMIT.default, ...filter } = options ?? {};
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_LIMIT.max) {
      throw new JobsError('invalid_input', `list: \`limit\` must be an integer from 1 to ${LIST_LIMIT.max}`, {
        field: 'limit',
      });
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

  run(input: EnqueueInput, work: JobWork, options: RunOptions = {}): Promise<Job> {
    return this.#runner.run(input, work, options);
  }

  async cancel(id: string, message = 'Cancelled'): Promise<Job> {
    this.#assertOpen();
    const job = this.#require(id);
    if (isTerminal(job.state)) return job;
    try {
      return await this.#write(id, this.validator.patch(id, { state: 'cancelled', message }));
    } catch (error) {
      // Finished meanwhile (a double click, another instance): cancelling a finished job is no error.
      const now = this.#jobs.get(id);
      if (error instanceof JobsError && error.code === 'invalid_transition' && now && isTerminal(now.state)) return now;
      throw error;
    }
  }

  eventsSince(lastEventId: string): Promise<Replay> {
    if (typeof lastEventId !== 'string') return Promise.resolve({ kind: 'resync', reason: RESYNC_REASON.malformed });
    return this.store.eventsSince(lastEventId);
  }

  head(): string {
    return this.#head;
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

  onReset(listener: () => void): () => void {
    this.#resetListeners.add(listener);
    return () => {
      this.#resetListeners.delete(listener);
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
    this.#runner.abortAll();
    // The jobs this instance owns end as errors; other instances' jobs are theirs to finish.
    const endings = [...this.#owned].map((id) =>
      this.#write(id, { state: 'error', message: SHUTDOWN_MESSAGE }).catch((error) => {
        if (!(error instanceof JobsError) || error.code === 'unavailable') this.report(error);
      }),
    );
    await Promise.all(endings);
    this.#closed = true;
    for (const listener of this.#closeListeners) this.#safely(listener, 'a close listener');
    this.#closeListeners.clear();
    this.#resetListeners.clear();
    this.#listeners.clear();
    await this.store.close();
  }

  #prune() {
    const cutoff = Date.now() - this.retentionMs;
    const removed: string[] = [];
    for (const job of this.#jobs.values()) {
      if (job.finishedAt !== null && Date.parse(job.finishedAt) < cutoff) removed.push(job.id);
    }
    for (const id of removed) this.#jobs.delete(id);
    if (removed.length > 0) this.store.remove(removed).catch((error) => this.report(error));
  }

  #require(id: string): Job {
    const job = typeof id === 'string' ? this.#jobs.get(id) : undefined;
    if (!job) throw new JobsError('not_found', `No job with id ${JSON.stringify(id)}`, { jobId: String(id) });
    return job;
  }

  #assertOpen() {
    if (this.#closed) throw new JobsError('closed', 'The job registry is closed');
  }

  #safely(fn: () => void, what: string) {
    try {
      fn();
    } catch (error) {
      this.report(new Error(`${what} threw: ${errorMessage(error)}`, { cause: error }));
    }
  }
}
