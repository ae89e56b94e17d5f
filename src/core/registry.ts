// The registry is the hub every other part plugs into (store, writer, runner, definitions, streams),
// so its class is longer than our usual file: each method below is short and delegates the heavy
// lifting (writes: job-writer.ts, runs: runner.ts, definitions: definitions.ts).
import { nanoid } from 'nanoid';
import { errorMessage, JobsError } from '../protocol/errors.js';
import {
  isBusy,
  isTerminal,
  type Job,
  type JobLimits,
  type JsonObject,
  type LogLevel,
  type LogLine,
} from '../protocol/job.js';
import { LIST_LIMIT } from '../protocol/wire.js';
import { memoryStore } from '../stores/memory.js';
import {
  checkDefinition,
  type Definition,
  type DefinitionRunOptions,
  type JobDefinition,
  type JobDefinitionOptions,
  slotOf,
} from './definitions.js';
import { compileFilter, type JobFilter } from './filter.js';
import { delay, JobWriter, SlotBusy } from './job-writer.js';
import type { JobChange } from './next-version.js';
import { functionOption, logError, timerOption } from './options.js';
import { createRunner, type JobWork, type Plan, type RunOptions } from './runner.js';
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

export type { DefinitionRunOptions, JobDefinition, JobDefinitionOptions } from './definitions.js';
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
  /** Newest first. */
  list(options?: ListOptions): Job[];
  /**
   * One page of jobs, newest first by `queuedAt`, then by `id`: an order every instance agrees on, so
   * a page's `next` (pass it as `before`) continues the list on any instance, without a job twice or
   * missed while new jobs arrive. (`list` keeps queue order, which may differ for jobs queued in the
   * same millisecond or, on a shared store, arriving from other instances.)
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
  /** Runs a finished job's definition again with the same input: a new job, `retryOf` the old. */
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
const DAY_MS = 24 * 60 * 60 * 1000;
/** How long `close()` waits for its owned jobs' final writes before it releases the store anyway. */
const CLOSE_WAIT_MS = 5000;
/** Queued jobs waiting for a concurrency slot look again this often (a slot freed elsewhere). */
const SLOT_POLL_MS = 1000;

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
    parseLogLine: validator.storedLogLine,
    logLines: validator.limits.logLines,
    onError: (error) => registry.report(error),
    onEvent: (event) => registry.apply(event),
    onOrphan: (job) => void registry.endOrphan(job, 'lease_expired', LEASE_MESSAGE),
    onReset: (load) => registry.reset(load),
  });
  await registry.load(loaded, 'restarted', RESTART_MESSAGE);
  return registry;
}

interface Listener {
  matches: (job: Job) => boolean;
  callback: (event: JobEvent) => void;
  logs: boolean;
}

class Registry implements JobRegistry {
  /** Every job this instance knows, newest snapshot. Insertion order is queue order: newest last. */
  readonly #jobs = new Map<string, Job>();
  readonly #logs = new Map<string, LogLine[]>();
  readonly #listeners = new Set<Listener>();
  readonly #closeListeners = new Set<() => void>();
  readonly #resetListeners = new Set<() => void>();
  readonly #definitions = new Map<string, Definition>();
  /** Queued and running jobs this instance owns (it created, runs or approved them): a shared store leases them. */
  readonly #owned = new Set<string>();
  /** Owned queued jobs and how to run them once they start (a slot may make them wait). */
  readonly #plans = new Map<string, Plan>();
  readonly #starting = new Set<string>();
  readonly #writer: JobWriter;
  readonly #runner: ReturnType<typeof createRunner>;
  readonly #pruneTimer: ReturnType<typeof setInterval>;
  #slotTimer: ReturnType<typeof setInterval> | null = null;
  #head = '';
  #closed = false;

  constructor(
    readonly store: JobStore,
    readonly validator: JobValidator,
    readonly retentionMs: number,
    readonly onError: (error: Error) => void,
  ) {
    this.#writer = new JobWriter({
      store,
      get: (id) => this.#jobs.get(id),
      adopt: (job) => this.#jobs.set(job.id, Object.freeze(job)),
      optionsFor: (current, next) => {
        const live = needsRunner(next.state);
        // Whoever brings a job back to work (an approval of a pending job) owns it from then on.
        if (live && current.state === 'pending') this.#owned.add(next.id);
        return {
          lease: live && this.#owned.has(next.id),
          slot: slotOf(this.#definitions.get(next.category), next),
        };
      },
    });
    this.#runner = createRunner({
      check: (id, patch) => this.validator.patch(id, patch),
      write: (id, change) => this.#writer.write(id, change),
      appendLog: (id, text, level) => this.#appendLog(id, text, level),
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
  async load(loaded: StoreLoad, code: string, orphanMessage: string): Promise<void> {
    this.#jobs.clear();
    this.#logs.clear();
    for (const job of [...loaded.jobs].sort((a, b) => a.queuedAt.localeCompare(b.queuedAt))) {
      this.#jobs.set(job.id, Object.freeze(job));
    }
    for (const [id, lines] of Object.entries(loaded.logs)) this.#logs.set(id, [...lines]);
    this.#head = loaded.head;
    await Promise.all(loaded.orphans.map((job) => this.endOrphan(job, code, orphanMessage)));
    this.#prune();
  }

  /** The store lost its history and opened a new epoch: what it holds now is the truth. */
  reset(loaded: StoreLoad) {
    void this.load(loaded, 'lease_expired', LEASE_MESSAGE);
    // Streams end, and their clients resync: the ids they hold belong to the old epoch.
    for (const listener of this.#resetListeners) this.#safely(listener, 'a reset listener');
  }

  /** Ends a job whose runner is gone; a conflict means another instance did it first. */
  endOrphan(job: Job, code: string, message: string): Promise<void> {
    if (!this.#jobs.has(job.id)) this.#jobs.set(job.id, Object.freeze(job));
    return this.#end(job.id, code, message);
  }

  /** Applies one change from the store (this instance's or another's) and fans it out. */
  apply(event: JobEvent) {
    this.#head = event.id;
    const job = event.job;
    if (event.log) {
      const lines = this.#logs.get(job.id) ?? [];
      lines.push(event.log);
      if (lines.length > this.limits.logLines) lines.splice(0, lines.length - this.limits.logLines);
      this.#logs.set(job.id, lines);
    } else {
      const held = this.#jobs.get(job.id);
      if (held && held.version >= job.version) return; // already applied (loaded state, a replayed event)
      this.#jobs.set(job.id, Object.freeze(job));
      if (!needsRunner(job.state)) {
        this.#owned.delete(job.id);
        this.#plans.delete(job.id);
        // A slot of its category may have come free.
        if (this.#plans.size > 0) this.#startWaiting(job.category);
      }
      if (isTerminal(job.state)) this.#runner.ended(job.id);
    }
    // Runs once per subscriber per change (thousands of streams): no closure per call.
    for (const listener of this.#listeners) {
      if ((event.log && !listener.logs) || !listener.matches(job)) continue;
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

  define<Input extends JsonObject = JsonObject, Result extends JsonObject = JsonObject>(
    category: string,
    work: JobWork<Input, Result>,
    options: JobDefinitionOptions<Input, Result> = {},
  ): JobDefinition<Input, Result> {
    this.validator.enqueueInput({ category });
    if (this.#definitions.has(category)) {
      throw new JobsError('invalid_options', `define: ${JSON.stringify(category)} is defined already`, {
        field: 'category',
      });
    }
    this.#definitions.set(category, checkDefinition(category, work, options as JobDefinitionOptions));
    return {
      category,
      run: (input, runOptions) => this.run(category, input, runOptions) as Promise<Job<Input, Result>>,
    };
  }

  async enqueue(input: EnqueueInput): Promise<Job> {
    return (await this.#create(input)).job;
  }

  async #create(input: EnqueueInput, extra: { maxAttempts?: number; retryOf?: string } = {}) {
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
      result: null,
      error: null,
      attempt: state === 'running' ? 1 : 0,
      maxAttempts: extra.maxAttempts ?? 1,
      retryOf: extra.retryOf ?? null,
      key: valid.key ?? null,
      queuedAt: now,
      startedAt: state === 'running' ? now : null,
      finishedAt: null,
      updatedAt: now,
      version: 1,
    });
    const owned = state !== 'pending';
    const slot = slotOf(this.#definitions.get(job.category), job);
    const result = await this.store.create(job, { lease: owned, slot });
    if (!result.created) return { job: result.job, created: false };
    if (owned) this.#owned.add(job.id);
    return { job: this.#jobs.get(job.id) ?? result.event.job, created: true };
  }

  async update(id: string, patch: JobPatch): Promise<Job> {
    this.#assertOpen();
    this.#require(id);
    return this.#writer.write(id, this.validator.patch(id, patch));
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

  page(options: PageOptions = {}): JobPage {
    const { limit = 50, before, ...filter } = options ?? {};
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 500) {
      throw new JobsError('invalid_input', 'page: `limit` must be an integer from 1 to 500', { field: 'limit' });
    }
    const end = before === undefined ? null : pageKey(before);
    const matches = compileFilter(filter);
    // The first limit + 1 matches after `end`, in page order: the extra one says a next page exists.
    // Jobs are held in queue order, nearly page order, so walking from the newest most jobs fall
    // behind the kept ones at once and the insertion below rarely moves anything.
    const kept: PageKey[] = [];
    const jobs = [...this.#jobs.values()];
    for (let i = jobs.length - 1; i >= 0; i--) {
      const job = jobs[i] as Job;
      const key: PageKey = { at: Date.parse(job.queuedAt), id: job.id, job };
      if ((end && !comesBefore(end, key)) || !matches(job)) continue;
      let index = kept.length;
      while (index > 0 && comesBefore(key, kept[index - 1] as PageKey)) index--;
      if (index > limit) continue;
      kept.splice(index, 0, key);
      if (kept.length > limit + 1) kept.pop();
    }
    const page = kept.slice(0, limit).map((key) => key.job as Job);
    const last = page[page.length - 1];
    return { jobs: page, next: kept.length > limit && last ? { queuedAt: last.queuedAt, id: last.id } : null };
  }

  logs(id: string): LogLine[] {
    return [...(this.#logs.get(id) ?? [])];
  }

  subscribe(filter: JobFilter, callback: (event: JobEvent) => void, options: { logs?: boolean } = {}): () => void {
    if (typeof callback !== 'function') {
      throw new JobsError('invalid_input', 'subscribe: the listener must be a function', { field: 'listener' });
    }
    const listener: Listener = { matches: compileFilter(filter), callback, logs: options?.logs === true };
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  run(input: EnqueueInput, work: JobWork, options?: RunOptions): Promise<Job>;
  run(category: string, input: JsonObject, options?: DefinitionRunOptions): Promise<Job>;
  async run(first: EnqueueInput | string, second: JobWork | JsonObject, third: RunOptions | DefinitionRunOptions = {}) {
    if (typeof first === 'string') return this.#runDefined(first, second as JsonObject, third as DefinitionRunOptions);
    const work = second as JobWork;
    if (typeof work !== 'function') {
      throw new JobsError('invalid_input', 'run: the work must be a function', { field: 'work' });
    }
    const options = (third ?? {}) as RunOptions;
    if (typeof options !== 'object' || options === null) {
      throw new JobsError('invalid_input', 'run: options must be an object', { field: 'options' });
    }
    const timeoutMs =
      options.timeoutMs === undefined ? undefined : timerOption('run', 'timeoutMs', options.timeoutMs, 0, 1);
    const { job, created } = await this.#create(first);
    // An idempotent hit (that job is under way) or a job created waiting for a person: nothing to run.
    if (created && job.state !== 'pending') this.#plan(job, { work, timeoutMs, backoff: () => 0, approval: null });
    return job;
  }

  async #runDefined(category: string, input: JsonObject, options: DefinitionRunOptions = {}, retryOf?: string) {
    const definition = this.#definition(category);
    if (typeof options !== 'object' || options === null) {
      throw new JobsError('invalid_input', 'run: options must be an object', { field: 'options' });
    }
    const target = options.target ?? (definition.target ? definition.target(input) : undefined);
    const { job, created } = await this.#create(
      {
        category,
        target,
        data: input,
        key: options.key,
        scope: options.scope ?? definition.scope,
        message: options.message,
      },
      { maxAttempts: definition.retries + 1, retryOf },
    );
    if (created) this.#plan(job, this.#planFor(definition, null));
    return job;
  }

  #planFor(definition: Definition, approval: Plan['approval']): Plan {
    const work = approval ? (definition.onApprove ?? definition.work) : definition.work;
    return { work, timeoutMs: definition.timeoutMs, backoff: definition.backoff, approval };
  }

  /** Starts an owned queued job once its slot allows: now, or when a slot of its category comes free. */
  #plan(job: Job, plan: Plan): void {
    this.#plans.set(job.id, plan);
    this.#slotTimer ??= setInterval(() => this.#startWaiting(null), SLOT_POLL_MS);
    (this.#slotTimer as { unref?: () => void }).unref?.();
    void this.#tryStart(job.id);
  }

  #startWaiting(category: string | null): void {
    if (this.#plans.size === 0 && this.#slotTimer) {
      clearInterval(this.#slotTimer);
      this.#slotTimer = null;
    }
    const waiting = [...this.#plans.keys()]
      .map((id) => this.#jobs.get(id))
      .filter((job): job is Job => job !== undefined && (category === null || job.category === category))
      .sort((a, b) => a.queuedAt.localeCompare(b.queuedAt));
    for (const job of waiting) void this.#tryStart(job.id);
  }

  async #tryStart(id: string): Promise<void> {
    const plan = this.#plans.get(id);
    const job = this.#jobs.get(id);
    if (!plan || this.#starting.has(id) || this.#closed) return;
    if (job?.state !== 'queued') {
      this.#plans.delete(id);
      return;
    }
    this.#starting.add(id);
    try {
      const started = await this.#writer.write(id, { state: 'running', attempt: job.attempt + 1 });
      this.#plans.delete(id);
      this.#runner.execute(started, plan);
    } catch (error) {
      if (error instanceof SlotBusy) return; // waits for a slot
      this.#plans.delete(id);
      if (!(error instanceof JobsError && error.code === 'invalid_transition')) this.report(error);
    } finally {
      this.#starting.delete(id);
    }
  }

  async cancel(id: string, message = 'Cancelled'): Promise<Job> {
    this.#assertOpen();
    const job = this.#require(id);
    if (isTerminal(job.state)) return job;
    try {
      return await this.#writer.write(id, this.validator.patch(id, { state: 'cancelled', message }));
    } catch (error) {
      // Finished meanwhile (a double click, another instance): cancelling a finished job is no error.
      const now = this.#jobs.get(id);
      if (error instanceof JobsError && error.code === 'invalid_transition' && now && isTerminal(now.state)) return now;
      throw error;
    }
  }

  async retry(id: string, options: ActionOptions = {}): Promise<Job> {
    this.#assertOpen();
    const job = this.#require(id);
    if (!isTerminal(job.state)) {
      throw new JobsError('invalid_transition', `Job ${id} is ${job.state}: only a finished job is retried`, {
        jobId: id,
        field: 'state',
      });
    }
    const by = actor(options);
    return this.#runDefined(
      job.category,
      job.data as JsonObject,
      {
        key: job.key ?? undefined,
        target: { ...job.target },
        scope: job.scope,
        message: by ? `Retried by ${by}` : undefined,
      },
      job.id,
    );
  }

  async approve(id: string, options: ActionOptions = {}): Promise<Job> {
    this.#assertOpen();
    const job = this.#pending(id, 'approved');
    const definition = this.#definition(job.category);
    const by = actor(options);
    const approval = { by, at: new Date().toISOString() };
    const queued = await this.#writer.write(id, {
      state: 'queued',
      message: by ? `Approved by ${by}` : 'Approved',
      maxAttempts: job.attempt + 1,
    });
    this.#plan(queued, this.#planFor(definition, approval));
    return queued;
  }

  async reject(id: string, options: ActionOptions & { message?: string } = {}): Promise<Job> {
    this.#assertOpen();
    const job = this.#pending(id, 'rejected');
    const by = actor(options);
    const message = options.message ?? (by ? `Rejected by ${by}` : 'Rejected');
    const rejected = await this.#writer.write(id, this.validator.patch(id, { state: 'cancelled', message }));
    const onReject = this.#definitions.get(job.category)?.onReject;
    if (onReject) {
      try {
        await onReject(rejected);
      } catch (error) {
        this.report(new Error(`onReject of ${job.category} threw: ${errorMessage(error)}`, { cause: error }));
      }
    }
    return rejected;
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
    if (this.#slotTimer) clearInterval(this.#slotTimer);
    this.#plans.clear();
    this.#runner.abortAll();
    // The jobs this instance owns end as errors; other instances' jobs are theirs to finish.
    const endings = [...this.#owned].map((id) => this.#end(id, 'shutdown', SHUTDOWN_MESSAGE));
    // A shared store that cannot be reached must not keep a shutdown waiting for ever.
    await Promise.race([Promise.all(endings), delay(CLOSE_WAIT_MS)]);
    this.#closed = true;
    for (const listener of this.#closeListeners) this.#safely(listener, 'a close listener');
    this.#closeListeners.clear();
    this.#resetListeners.clear();
    this.#listeners.clear();
    await this.store.close();
  }

  /** Ends a busy job as `error` with a code; never rejects (a job that ended meanwhile is fine). */
  #end(id: string, code: string, message: string): Promise<void> {
    const attempt = this.#jobs.get(id)?.attempt ?? 0;
    const change: JobChange = { state: 'error', message, error: { code, message, attempt } };
    return this.#writer.write(id, change).then(
      () => {},
      (error) => {
        if (!(error instanceof JobsError) || error.code === 'unavailable') this.report(error);
      },
    );
  }

  async #appendLog(id: string, text: string, level: LogLevel): Promise<void> {
    const job = this.#require(id);
    await this.store.appendLog(job, { at: new Date().toISOString(), level, text });
  }

  #definition(category: string): Definition {
    const definition = this.#definitions.get(category);
    if (!definition) {
      throw new JobsError(
        'invalid_transition',
        `No definition for ${JSON.stringify(category)} on this instance (define() it)`,
        {
          field: 'category',
        },
      );
    }
    return definition;
  }

  #pending(id: string, what: string): Job {
    const job = this.#require(id);
    if (job.state !== 'pending') {
      throw new JobsError('invalid_transition', `Job ${id} is ${job.state}: only a pending job is ${what}`, {
        jobId: id,
        field: 'state',
      });
    }
    return job;
  }

  #prune() {
    const cutoff = Date.now() - this.retentionMs;
    const removed: string[] = [];
    for (const job of this.#jobs.values()) {
      if (job.finishedAt !== null && Date.parse(job.finishedAt) < cutoff) removed.push(job.id);
    }
    for (const id of removed) {
      this.#jobs.delete(id);
      this.#logs.delete(id);
    }
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

/** A job's place in page order: `queuedAt` as a number (stored times may differ in precision), then id. */
interface PageKey {
  at: number;
  id: string;
  job?: Job;
}

/** Whether `a` comes before `b` in page order: newer first, then the greater id. */
function comesBefore(a: PageKey, b: PageKey): boolean {
  return a.at !== b.at ? a.at > b.at : a.id > b.id;
}

function pageKey(before: ListPosition): PageKey {
  const at = typeof before?.queuedAt === 'string' ? Date.parse(before.queuedAt) : Number.NaN;
  if (Number.isNaN(at) || typeof before.id !== 'string') {
    throw new JobsError('invalid_input', 'page: `before` must be { queuedAt: an ISO time, id: a job id }', {
      field: 'before',
    });
  }
  return { at, id: before.id };
}

function actor(options: ActionOptions): string | null {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_input', 'options must be an object', { field: 'options' });
  }
  if (options.by === undefined) return null;
  if (typeof options.by !== 'string' || options.by.length > 200) {
    throw new JobsError('invalid_input', '`by` must be a string of at most 200 characters', { field: 'by' });
  }
  return options.by;
}
