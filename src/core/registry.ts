// The registry is the hub every other part plugs into, so this file is longer than our usual one
// (about 480 lines): the documented entry point `createJobRegistry` and one class whose state moves
// together on every change (the jobs and logs held, the jobs this instance owns, the listeners), with
// the store's events coming back through `apply()`. Everything that stands alone lives beside it: the
// interface (registry-api.ts), writes (job-writer.ts), runs (runner.ts), the start queue
// (start-queue.ts), definitions and their actions (definition-runs.ts), lists and pages (listing.ts).
import { errorMessage, JobsError } from '../protocol/errors.js';
import { BUSY_STATES, isTerminal, type Job, type JsonObject, type LogLevel, type LogLine } from '../protocol/job.js';
import { memoryStore } from '../stores/memory.js';
import { Definitions } from './definition-runs.js';
import type { DefinitionRunOptions, JobDefinition, JobDefinitionOptions } from './definitions.js';
import { type JobFilter, parseFilter } from './filter.js';
import { type RegistryInstrumentation, registryHooks, timedStore } from './instrumentation.js';
import { createJobIdSource } from './job-ids.js';
import { JobIndex } from './job-index.js';
import { delay, JobWriter } from './job-writer.js';
import { listJobs, pageJobs } from './listing.js';
import type { JobChange } from './next-version.js';
import { functionOption, logError, timerOption } from './options.js';
import {
  type ActionOptions,
  type JobPage,
  type JobRegistry,
  type JobRegistryOptions,
  LEASE_MESSAGE,
  type ListOptions,
  type PageOptions,
  RESTART_MESSAGE,
  type RegistryHealth,
  SHUTDOWN_MESSAGE,
} from './registry-api.js';
import { createRunner, type JobWork, type Plan, type RunOptions } from './runner.js';
import { StartQueue } from './start-queue.js';
import { type JobEvent, type JobStore, needsRunner, RESYNC_REASON, type Replay, type StoreLoad } from './store.js';
import { Subscribers } from './subscribers.js';
import { createJobValidator, type EnqueueInput, type JobPatch, type JobValidator } from './validate.js';

export type { DefinitionRunOptions, JobDefinition, JobDefinitionOptions } from './definitions.js';
export {
  type ActionOptions,
  type JobPage,
  type JobRegistry,
  type JobRegistryOptions,
  LEASE_MESSAGE,
  type ListOptions,
  type ListPosition,
  type PageOptions,
  RESTART_MESSAGE,
  type RegistryHealth,
  SHUTDOWN_MESSAGE,
} from './registry-api.js';
export type { JobContext, JobWork, RunOptions } from './runner.js';
export type { JobEvent, Replay } from './store.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** How long `close()` waits for its owned jobs' final writes before it releases the store anyway. */
const CLOSE_WAIT_MS = 5000;

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
    if (!['store', 'retentionMs', 'limits', 'onError', 'instrumentation'].includes(key)) {
      const hint = key === 'replayBufferSize' ? ' (it is a store option now: memoryStore({ replayBufferSize }))' : '';
      throw new JobsError('invalid_options', `createJobRegistry: \`${key}\` is not an option${hint}`, { field: key });
    }
  }
  const given = options.store ?? memoryStore();
  if (typeof given?.open !== 'function' || typeof given.write !== 'function') {
    throw new JobsError('invalid_options', 'createJobRegistry: `store` must be a JobStore (memoryStore(), …)', {
      field: 'store',
    });
  }
  const retentionMs = timerOption('createJobRegistry', 'retentionMs', options.retentionMs, DAY_MS, 1);
  const onError = functionOption('createJobRegistry', 'onError', options.onError, logError);
  const validator = createJobValidator(options.limits ?? {});
  const hooks = registryHooks(options.instrumentation, onError);
  const store = hooks?.storeWrite ? timedStore(given, hooks.storeWrite) : given;

  const registry = new Registry(store, validator, retentionMs, onError, hooks);
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
  try {
    hooks?.attach?.(registry);
  } catch (error) {
    await registry.close();
    throw error;
  }
  return registry;
}

class Registry implements JobRegistry {
  /** Every job this instance knows, newest snapshot, indexed for lists and pages. */
  readonly #jobs = new JobIndex();
  /**
   * The version of each job its store's events (or load) last brought: an event at or below it was
   * applied already. Apart from what `#jobs` holds, since a write that lost a race takes the newer
   * snapshot early (`adopt`), and the event that brings it must still be fanned out and acted on.
   */
  readonly #applied = new Map<string, number>();
  readonly #logs = new Map<string, LogLine[]>();
  readonly #subscribers = new Subscribers<(event: JobEvent) => void>();
  readonly #closeListeners = new Set<() => void>();
  readonly #resetListeners = new Set<() => void>();
  readonly #definitions: Definitions;
  /** Queued and running jobs this instance owns (it created, runs or approved them): a shared store leases them. */
  readonly #owned = new Set<string>();
  /** Owned queued jobs and how to run them once they start (a slot may make them wait). */
  readonly #queue: StartQueue;
  readonly #writer: JobWriter;
  readonly #runner: ReturnType<typeof createRunner>;
  readonly #pruneTimer: ReturnType<typeof setInterval>;
  readonly #newId = createJobIdSource();
  /** The instrumentation's hooks, checked; undefined without one. */
  readonly #hooks: RegistryInstrumentation | undefined;
  #head = '';
  #closed = false;
  /** Events waiting while another is applied (see `apply`). */
  readonly #incoming: JobEvent[] = [];
  #applying = false;

  constructor(
    readonly store: JobStore,
    readonly validator: JobValidator,
    readonly retentionMs: number,
    readonly onError: (error: Error) => void,
    hooks?: RegistryInstrumentation,
  ) {
    this.#hooks = hooks;
    this.#writer = new JobWriter({
      store,
      get: (id) => this.#jobs.get(id),
      adopt: (job) => {
        // Only ever forwards: the read loop may have brought newer versions while the write was out.
        const held = this.#jobs.get(job.id);
        if (!held || held.version < job.version) this.#jobs.set(Object.freeze(job));
      },
      optionsFor: (current, next) => {
        const live = needsRunner(next.state);
        return {
          // Whoever brings a job back to work (an approval of a pending job) leases it with that very
          // write, and owns it once the write is in (`wrote`), not before: a write that loses the
          // race leaves the job to the winner.
          lease: live && (this.#owned.has(next.id) || current.state === 'pending'),
          slot: this.#definitions.slotOf(next),
        };
      },
      wrote: (current, next) => {
        // Unless it moved on already (its event came first): a finished job has no owner.
        const now = this.#jobs.get(next.id)?.state ?? next.state;
        if (current.state === 'pending' && needsRunner(next.state) && needsRunner(now)) this.#owned.add(next.id);
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
      attempt: hooks?.attempt,
    });
    this.#definitions = new Definitions({
      messageLength: validator.limits.messageLength,
      create: (input, extra) => this.#create(input, extra),
      write: (id, change) => this.#writer.write(id, change),
      start: (job, plan) => this.#start(job, plan),
      require: (id) => this.#require(id),
      busyRetryOf: (job) => {
        const busy = parseFilter({ category: [job.category], state: BUSY_STATES });
        for (const candidate of this.#jobs.newestFirst(busy, null)) if (candidate.retryOf === job.id) return candidate;
        return undefined;
      },
      checkCategory: (category) => void this.validator.enqueueInput({ category }),
      report: (error) => this.report(error),
    });
    this.#queue = new StartQueue({
      get: (id) => this.#jobs.get(id),
      start: (id, attempt) => this.#writer.write(id, { state: 'running', attempt }),
      execute: (job, plan) => this.#runner.execute(job, plan),
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
    this.#applied.clear();
    this.#logs.clear();
    // In page order, oldest first, so the index appends instead of inserting (ISO times in one format
    // compare as strings; localeCompare is slow).
    const oldestFirst = [...loaded.jobs].sort((a, b) =>
      a.queuedAt !== b.queuedAt ? (a.queuedAt < b.queuedAt ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
    for (const job of oldestFirst) {
      this.#jobs.set(Object.freeze(job));
      this.#applied.set(job.id, job.version);
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
    if (!this.#jobs.has(job.id)) this.#jobs.set(Object.freeze(job));
    return this.#end(job.id, code, message);
  }

  /**
   * Applies a change from the store (this instance's or another's) and fans it out. Events are
   * applied one at a time, in the order they came: one that arrives while another is applied (a local
   * store records synchronously, so a slot freed here starts the next job at once, and a listener may
   * write) waits for it, so every listener hears ids in order.
   */
  apply(event: JobEvent) {
    this.#incoming.push(event);
    if (this.#applying) return;
    this.#applying = true;
    try {
      for (let next = this.#incoming.shift(); next; next = this.#incoming.shift()) this.#applyOne(next);
    } finally {
      this.#applying = false;
    }
  }

  #applyOne(event: JobEvent) {
    this.#head = event.id;
    const job = event.job;
    if (event.log) {
      const lines = this.#logs.get(job.id) ?? [];
      lines.push(event.log);
      if (lines.length > this.limits.logLines) lines.splice(0, lines.length - this.limits.logLines);
      this.#logs.set(job.id, lines);
    } else {
      // Already applied (loaded state, a replayed event)?
      if ((this.#applied.get(job.id) ?? 0) >= job.version) return;
      this.#applied.set(job.id, job.version);
      const held = this.#jobs.get(job.id);
      if (!held || held.version <= job.version) this.#jobs.set(Object.freeze(job));
      if (!needsRunner(job.state)) {
        this.#owned.delete(job.id);
        this.#queue.forget(job.id);
        // A slot of its category may have come free.
        this.#queue.wake(job.category);
      }
      if (isTerminal(job.state)) this.#runner.ended(job.id);
    }
    // Runs once per subscriber per change (thousands of streams): no closure per call.
    for (const bucket of this.#subscribers.bucketsFor(job)) {
      for (const subscriber of bucket) {
        if ((event.log && !subscriber.logs) || !subscriber.matches(job)) continue;
        try {
          subscriber.callback(event);
        } catch (error) {
          this.report(new Error(`a job listener threw: ${errorMessage(error)}`, { cause: error }));
        }
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
    this.#definitions.define(category, work as JobWork, options as JobDefinitionOptions);
    return {
      category,
      run: (input, runOptions) => this.run(category, input, runOptions) as Promise<Job<Input, Result>>,
    };
  }

  async enqueue(input: EnqueueInput): Promise<Job> {
    const { job, created } = await this.#create(input);
    if (created && job.state !== 'pending') this.#hooks?.owned?.(job);
    return job;
  }

  /** Queues an owned job to start with `plan` once its slot allows. */
  #start(job: Job, plan: Plan): void {
    this.#hooks?.owned?.(job);
    this.#queue.add(job, plan);
  }

  async #create(input: EnqueueInput, extra: { maxAttempts?: number; retryOf?: string } = {}) {
    this.#assertOpen();
    const valid = this.validator.enqueueInput(input);
    const nowMs = Date.now();
    const now = new Date(nowMs).toISOString();
    const state = valid.state ?? 'queued';
    const job: Job = Object.freeze({
      id: this.#newId(nowMs),
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
    const slot = this.#definitions.slotOf(job);
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
    return listJobs(this.#jobs, options);
  }

  page(options: PageOptions = {}): JobPage {
    return pageJobs(this.#jobs, options);
  }

  logs(id: string): LogLine[] {
    return [...(this.#logs.get(id) ?? [])];
  }

  subscribe(filter: JobFilter, callback: (event: JobEvent) => void, options: { logs?: boolean } = {}): () => void {
    if (typeof callback !== 'function') {
      throw new JobsError('invalid_input', 'subscribe: the listener must be a function', { field: 'listener' });
    }
    return this.#subscribers.add(filter, callback, options?.logs === true);
  }

  run(input: EnqueueInput, work: JobWork, options?: RunOptions): Promise<Job>;
  run(category: string, input: JsonObject, options?: DefinitionRunOptions): Promise<Job>;
  async run(first: EnqueueInput | string, second: JobWork | JsonObject, third: RunOptions | DefinitionRunOptions = {}) {
    if (typeof first === 'string') {
      this.#assertOpen();
      return this.#definitions.run(first, second as JsonObject, third as DefinitionRunOptions);
    }
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
    if (created && job.state !== 'pending') this.#start(job, { work, timeoutMs, backoff: () => 0, approval: null });
    return job;
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
    return this.#definitions.retry(id, options);
  }

  async approve(id: string, options: ActionOptions = {}): Promise<Job> {
    this.#assertOpen();
    return this.#definitions.approve(id, options);
  }

  async reject(id: string, options: ActionOptions & { message?: string } = {}): Promise<Job> {
    this.#assertOpen();
    if (options?.message !== undefined) this.validator.patch(id, { message: options.message });
    return this.#definitions.reject(id, options);
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
    const busy = BUSY_STATES.reduce((sum, state) => sum + this.#jobs.countInState(state), 0);
    return {
      ok: store.ok && !this.#closed,
      closed: this.#closed,
      jobs: this.#jobs.size,
      busy,
      subscribers: this.#subscribers.size,
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
    this.#queue.clear();
    this.#runner.abortAll();
    // The jobs this instance owns end as errors; other instances' jobs are theirs to finish.
    const endings = [...this.#owned].map((id) => this.#end(id, 'shutdown', SHUTDOWN_MESSAGE));
    // A shared store that cannot be reached must not keep a shutdown waiting for ever.
    await Promise.race([Promise.all(endings), delay(CLOSE_WAIT_MS)]);
    this.#closed = true;
    for (const listener of this.#closeListeners) this.#safely(listener, 'a close listener');
    this.#closeListeners.clear();
    this.#resetListeners.clear();
    this.#subscribers.clear();
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

  #prune() {
    const cutoff = Date.now() - this.retentionMs;
    const removed: string[] = [];
    for (const job of this.#jobs.values()) {
      if (job.finishedAt !== null && Date.parse(job.finishedAt) < cutoff) removed.push(job.id);
    }
    this.#jobs.deleteMany(removed);
    for (const id of removed) {
      this.#logs.delete(id);
      this.#applied.delete(id);
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
