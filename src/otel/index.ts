// realtime-jobs/otel: spans and metrics for a job registry and its routes, through the OpenTelemetry
// API. The only entry that imports `@opentelemetry/api` (an optional peer dependency); core knows
// nothing of it, only the hooks it calls (core/instrumentation.ts), and calls none without this.
import {
  type Attributes,
  type BatchObservableCallback,
  type Context,
  context,
  type MeterProvider,
  metrics,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { EndpointInstrumentation, RegistryInstrumentation, StoreWrite } from '../core/instrumentation.js';
import type { JobRegistry } from '../core/registry-api.js';
import type { StreamCloseReason } from '../core/stream.js';
import { JobsError } from '../protocol/errors.js';
import { isTerminal, type Job } from '../protocol/job.js';

export interface OpenTelemetryOptions {
  /** Where spans go. @default the global tracer provider (the one the Node SDK registers) */
  tracerProvider?: TracerProvider;
  /**
   * Where metrics go. The global one is read when the instrumentation is created: create it after
   * the SDK has started. @default the global meter provider
   */
  meterProvider?: MeterProvider;
  /**
   * How a run's span relates to the span that was active when the job was started (the request that
   * called `run()`, `enqueue()`, `retry()` or `approve()`): `'parent'` makes the run a child in that
   * trace; `'link'` starts a trace of its own with a link to it, for jobs that outlast what a
   * collector waits for a trace (tail sampling).
   * @default 'parent'
   */
  requestSpan?: 'parent' | 'link';
}

/** What `openTelemetryInstrumentation()` returns: pass it to the registry and to the routes. */
export interface OpenTelemetryInstrumentation extends RegistryInstrumentation, EndpointInstrumentation {}

/** The instrumentation scope of every span and metric. */
export const INSTRUMENTATION_SCOPE = 'realtime-jobs';

const CATEGORY = 'realtime_jobs.category';
const STATE = 'realtime_jobs.state';
const ATTEMPT = 'realtime_jobs.attempt';
const PHASE = 'realtime_jobs.phase';
const ERROR_TYPE = 'error.type';

/** Seconds: jobs run for seconds to hours. */
const RUN_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200];
/** Seconds: most jobs start at once; a concurrency limit makes them wait for minutes. */
const WAIT_BUCKETS = [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600, 1800, 3600];
/** Seconds: a memory store answers in microseconds, a disk or Redis in milliseconds. */
const STORE_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Traces and metrics for realtime-jobs through the OpenTelemetry API: a span per run of a job on this
 * instance, job and stream counters, run, queue-wait and store-write histograms, and the store's
 * health. Pass the same object to the registry and to every route you serve:
 *
 * @example
 * const telemetry = openTelemetryInstrumentation();
 * const jobs = await createJobRegistry({ store, instrumentation: telemetry });
 * app.use('/api/admin/jobs', jobsRouter(jobs, { authorize, instrumentation: telemetry }));
 *
 * One instrumentation serves one registry at a time (and any number of routes).
 */
export function openTelemetryInstrumentation(options: OpenTelemetryOptions = {}): OpenTelemetryInstrumentation {
  return new Telemetry(checkOptions(options));
}

function checkOptions(options: OpenTelemetryOptions): Required<OpenTelemetryOptions> {
  const owner = 'openTelemetryInstrumentation';
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', `${owner}: options must be an object`, { field: 'options' });
  }
  for (const key of Object.keys(options)) {
    if (!['tracerProvider', 'meterProvider', 'requestSpan'].includes(key)) {
      throw new JobsError('invalid_options', `${owner}: \`${key}\` is not an option`, { field: key });
    }
  }
  const { tracerProvider = trace.getTracerProvider(), meterProvider = metrics.getMeterProvider() } = options;
  if (typeof tracerProvider?.getTracer !== 'function') {
    throw new JobsError('invalid_options', `${owner}: \`tracerProvider\` must be a TracerProvider (getTracer())`, {
      field: 'tracerProvider',
    });
  }
  if (typeof meterProvider?.getMeter !== 'function') {
    throw new JobsError('invalid_options', `${owner}: \`meterProvider\` must be a MeterProvider (getMeter())`, {
      field: 'meterProvider',
    });
  }
  const requestSpan = options.requestSpan ?? 'parent';
  if (requestSpan !== 'parent' && requestSpan !== 'link') {
    throw new JobsError('invalid_options', `${owner}: \`requestSpan\` must be 'parent' or 'link'`, {
      field: 'requestSpan',
    });
  }
  return { tracerProvider, meterProvider, requestSpan };
}

/** A job this instance runs, from the call that queued it to the end of its run. */
interface Run {
  /** The context active when this instance took the job on: the request that started it, if any. */
  parent: Context;
  /** When it was queued (ms since the epoch), until it starts. */
  queuedAt: number | null;
  span: Span | null;
  startedAt: number;
  phase: string | null;
  attempt: number;
}

class Telemetry implements OpenTelemetryInstrumentation {
  readonly #tracer;
  readonly #meter;
  readonly #link: boolean;
  readonly #runs = new Map<string, Run>();
  #registry: JobRegistry | null = null;

  readonly #started;
  readonly #ended;
  readonly #runDuration;
  readonly #queueWait;
  readonly #openStreams;
  readonly #evictions;
  readonly #resyncs;
  readonly #storeWrites;
  readonly #storeHealthy;
  readonly #pendingWrites;

  constructor(options: Required<OpenTelemetryOptions>) {
    this.#tracer = options.tracerProvider.getTracer(INSTRUMENTATION_SCOPE);
    this.#link = options.requestSpan === 'link';
    const meter = options.meterProvider.getMeter(INSTRUMENTATION_SCOPE);
    this.#meter = meter;
    this.#started = meter.createCounter('realtime_jobs.jobs.started', {
      unit: '{job}',
      description: 'Runs of jobs started on this instance (a run after an approval counts again)',
    });
    this.#ended = meter.createCounter('realtime_jobs.jobs.ended', {
      unit: '{job}',
      description: 'Jobs of this instance that reached a final state (success, warning, error, cancelled)',
    });
    this.#runDuration = meter.createHistogram('realtime_jobs.run.duration', {
      unit: 's',
      description: 'How long a run took, from running to its end (a final state, or pending)',
      advice: { explicitBucketBoundaries: RUN_BUCKETS },
    });
    this.#queueWait = meter.createHistogram('realtime_jobs.queue.wait_time', {
      unit: 's',
      description: 'How long a job waited queued before it started running',
      advice: { explicitBucketBoundaries: WAIT_BUCKETS },
    });
    this.#openStreams = meter.createUpDownCounter('realtime_jobs.streams.open', {
      unit: '{stream}',
      description: 'Open SSE streams',
    });
    this.#evictions = meter.createCounter('realtime_jobs.streams.evictions', {
      unit: '{stream}',
      description: 'Streams closed because their reader fell too far behind or stalled',
    });
    this.#resyncs = meter.createCounter('realtime_jobs.streams.resyncs', {
      unit: '{stream}',
      description: 'Resuming streams that could not replay and sent a fresh snapshot',
    });
    this.#storeWrites = meter.createHistogram('realtime_jobs.store.write.duration', {
      unit: 's',
      description: 'How long the store took to record a change (create, write, appendLog)',
      advice: { explicitBucketBoundaries: STORE_BUCKETS },
    });
    this.#storeHealthy = meter.createObservableGauge('realtime_jobs.store.healthy', {
      unit: '1',
      description: "1 while the store works, 0 while it reports a fault (the registry's health())",
    });
    this.#pendingWrites = meter.createObservableGauge('realtime_jobs.store.pending_writes', {
      unit: '{change}',
      description: 'Changes the store accepted but has not made durable yet',
    });
  }

  attach(registry: JobRegistry): void {
    if (this.#registry) {
      throw new JobsError(
        'invalid_options',
        'openTelemetryInstrumentation: this instrumentation serves another registry; create one per registry',
        { field: 'instrumentation' },
      );
    }
    this.#registry = registry;
    const unsubscribe = registry.subscribe({}, (event) => this.#observe(event.job));
    const observe: BatchObservableCallback = (result) => {
      if (registry.closed) return;
      const { store } = registry.health();
      const attributes = { 'realtime_jobs.store.kind': store.kind };
      result.observe(this.#storeHealthy, store.ok ? 1 : 0, attributes);
      result.observe(this.#pendingWrites, store.pendingWrites, attributes);
    };
    const gauges = [this.#storeHealthy, this.#pendingWrites];
    this.#meter.addBatchObservableCallback(observe, gauges);
    registry.onClose(() => {
      unsubscribe();
      this.#meter.removeBatchObservableCallback(observe, gauges);
      for (const run of this.#runs.values()) {
        run.span?.setStatus({ code: SpanStatusCode.ERROR, message: 'The registry closed before the job ended' });
        run.span?.end();
      }
      this.#runs.clear();
      this.#registry = null;
    });
  }

  owned(job: Job): void {
    const queuedAt = job.state === 'queued' ? Date.parse(job.updatedAt) : null;
    this.#runs.set(job.id, { parent: context.active(), queuedAt, span: null, startedAt: 0, phase: null, attempt: 0 });
    // A job enqueued as `running` has started already.
    this.#observe(this.#registry?.get(job.id) ?? job);
  }

  attempt<T>(job: Job, work: () => T): T {
    const run = this.#runs.get(job.id);
    return run?.span ? context.with(trace.setSpan(run.parent, run.span), work) : work();
  }

  storeWrite({ store, operation, durationMs, error }: StoreWrite): void {
    const attributes: Attributes = { 'realtime_jobs.store.kind': store, 'realtime_jobs.store.operation': operation };
    if (error !== undefined) attributes[ERROR_TYPE] = errorType(error);
    this.#storeWrites.record(durationMs / 1000, attributes);
  }

  streamOpened(): void {
    this.#openStreams.add(1);
  }

  streamClosed(reason: StreamCloseReason): void {
    this.#openStreams.add(-1);
    if (reason === 'evicted') this.#evictions.add(1);
  }

  streamResynced(reason: string): void {
    this.#resyncs.add(1, { 'realtime_jobs.resync.reason': reason });
  }

  /** One change of any job; only the runs of this instance are followed. */
  #observe(job: Job): void {
    const run = this.#runs.get(job.id);
    if (!run) return;
    const at = Date.parse(job.updatedAt);
    if (job.state === 'queued') run.queuedAt ??= at;
    else if (job.state === 'running') {
      if (!run.span) this.#begin(run, job, at);
      this.#progress(run, job, at);
    } else {
      // A final state, or pending: the run is over (an approval starts the next one).
      this.#finish(run, job, at);
      this.#runs.delete(job.id);
    }
  }

  #begin(run: Run, job: Job, at: number): void {
    const attributes: Attributes = {
      'realtime_jobs.job_id': job.id,
      [CATEGORY]: job.category,
      [ATTEMPT]: job.attempt,
      'realtime_jobs.max_attempts': job.maxAttempts,
    };
    for (const [field, value] of Object.entries(job.target)) attributes[`realtime_jobs.target.${field}`] = value;
    if (job.retryOf !== null) attributes['realtime_jobs.retry_of'] = job.retryOf;
    const request = trace.getSpanContext(run.parent);
    const relation = this.#link ? { root: true, links: request ? [{ context: request }] : [] } : {};
    run.span = this.#tracer.startSpan(
      `job ${job.category}`,
      { kind: SpanKind.INTERNAL, startTime: at, attributes, ...relation },
      run.parent,
    );
    run.startedAt = at;
    run.attempt = job.attempt;
    const category = { [CATEGORY]: job.category };
    this.#started.add(1, category);
    if (run.queuedAt !== null) this.#queueWait.record(Math.max(0, at - run.queuedAt) / 1000, category);
    run.queuedAt = null;
  }

  /** Span events: a new attempt, a retry, a new phase. */
  #progress(run: Run, job: Job, at: number): void {
    const span = run.span as Span;
    if (job.attempt > run.attempt) {
      span.addEvent('realtime_jobs.attempt', { [ATTEMPT]: job.attempt }, at);
      run.attempt = job.attempt;
    }
    if (job.phase === run.phase) return;
    run.phase = job.phase;
    if (job.phase === 'retrying' && job.error) {
      // The runner's retry: the attempt that failed, and why.
      const { attempt, code, message } = job.error;
      span.addEvent(
        'realtime_jobs.retry',
        { [ATTEMPT]: attempt, [ERROR_TYPE]: code, 'realtime_jobs.error.message': message },
        at,
      );
    } else if (job.phase !== null) {
      span.addEvent('realtime_jobs.phase', { [PHASE]: job.phase }, at);
    }
  }

  #finish(run: Run, job: Job, at: number): void {
    const attributes = { [CATEGORY]: job.category, [STATE]: job.state };
    const { span } = run;
    if (span) {
      span.setAttributes({ [STATE]: job.state, [ATTEMPT]: job.attempt });
      if (job.state === 'error') {
        span.setAttribute(ERROR_TYPE, job.error?.code ?? '_OTHER');
        span.setStatus({ code: SpanStatusCode.ERROR, message: job.error?.message ?? job.message ?? undefined });
      }
      const end = Math.max(at, run.startedAt);
      span.end(end);
      this.#runDuration.record((end - run.startedAt) / 1000, attributes);
    }
    if (isTerminal(job.state)) this.#ended.add(1, attributes);
  }
}

/** A failed store call's `error.type`: a JobsError's code (`unavailable`), else the error's name. */
function errorType(error: unknown): string {
  if (error instanceof JobsError) return error.code;
  if (error instanceof Error) return error.name;
  return '_OTHER';
}
