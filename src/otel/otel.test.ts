import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AggregationTemporality } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { describe, expect, it } from 'vitest';
import { otelSdk, useAsyncContext } from '../../test/support/otel.js';
import { jobWhen, testRegistry } from '../../test/support/registries.js';
import { waitFor } from '../../test/support/wait.js';
import { createJobsEndpoint } from '../core/http/endpoint.js';
import type { JobRegistry } from '../core/registry.js';
import type { JobStream, StreamSink } from '../core/stream.js';
import { isTerminal, type Job } from '../protocol/job.js';
import { memoryStore } from '../stores/memory.js';
import { openTelemetryInstrumentation } from './index.js';

useAsyncContext();

/** The SDK, an instrumentation on it, a registry with it, and a tracer for "requests". */
async function setup(options: { requestSpan?: 'parent' | 'link' } = {}) {
  const sdk = otelSdk();
  const telemetry = openTelemetryInstrumentation({
    tracerProvider: sdk.tracerProvider,
    meterProvider: sdk.meterProvider,
    ...options,
  });
  const jobs = await testRegistry({ instrumentation: telemetry });
  const tracer = sdk.tracerProvider.getTracer('test-app');
  /** Runs `fn` inside an active span, as an HTTP server's instrumentation would for a request. */
  const inRequest = <T>(name: string, fn: () => Promise<T>): Promise<{ result: T; request: Span }> =>
    tracer.startActiveSpan(name, async (request) => {
      try {
        return { result: await fn(), request };
      } finally {
        request.end();
      }
    });
  return { sdk, telemetry, jobs, inRequest };
}

const ended = (jobs: JobRegistry, id: string) => jobWhen(jobs, id, (job) => isTerminal(job.state));

/** The span of a job's run, once it has ended. */
async function spanOf(sdk: ReturnType<typeof otelSdk>, job: Job, nth = 0): Promise<ReadableSpan> {
  const runs = () => sdk.spans().filter((span) => span.attributes['realtime_jobs.job_id'] === job.id);
  await waitFor(() => runs().length > nth, `the span of run ${nth + 1} of job ${job.id}`);
  return runs()[nth] as ReadableSpan;
}

const eventsOf = (span: ReadableSpan) => span.events.map((event) => [event.name, event.attributes]);

describe('spans', () => {
  it('a job started inside a request runs in a child span with its attributes and phase events', async () => {
    const { sdk, jobs, inRequest } = await setup();
    let workSpan: string | undefined;
    const push = jobs.define<{ peer: string }, { records: number }>(
      'sync-push',
      async (ctx) => {
        workSpan = trace.getActiveSpan()?.spanContext().spanId;
        await ctx.progress(0.3, { phase: 'transferring' });
        await ctx.progress(0.9, { phase: 'verifying' });
        return { records: 3 };
      },
      { target: (input) => ({ peer: input.peer }) },
    );
    const { result: queued, request } = await inRequest('POST /sync', () => push.run({ peer: 'peer-b' }));
    await ended(jobs, queued.id);
    const span = await spanOf(sdk, queued);

    expect(span.name).toBe('job sync-push');
    expect(span.kind).toBe(SpanKind.INTERNAL);
    expect(span.spanContext().traceId).toBe(request.spanContext().traceId);
    expect(span.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(span.attributes).toMatchObject({
      'realtime_jobs.job_id': queued.id,
      'realtime_jobs.category': 'sync-push',
      'realtime_jobs.target.peer': 'peer-b',
      'realtime_jobs.state': 'success',
      'realtime_jobs.attempt': 1,
      'realtime_jobs.max_attempts': 1,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(eventsOf(span)).toEqual([
      ['realtime_jobs.phase', { 'realtime_jobs.phase': 'transferring' }],
      ['realtime_jobs.phase', { 'realtime_jobs.phase': 'verifying' }],
    ]);
    // The work runs inside the job's span: what it calls (HTTP, SQL) becomes the job's children.
    expect(workSpan).toBe(span.spanContext().spanId);
    // The span runs from the job's start to its end, as the job's own timestamps say.
    const job = jobs.get(queued.id) as Job;
    expect(Math.round(span.startTime[0] * 1000 + span.startTime[1] / 1e6)).toBe(Date.parse(job.startedAt as string));
    expect(Math.round(span.endTime[0] * 1000 + span.endTime[1] / 1e6)).toBe(Date.parse(job.finishedAt as string));
  });

  it("with requestSpan: 'link', a run starts a trace of its own linked to the request", async () => {
    const { sdk, jobs, inRequest } = await setup({ requestSpan: 'link' });
    const { result: queued, request } = await inRequest('POST /verify', () =>
      jobs.run({ category: 'verify' }, async () => ({ ok: true })),
    );
    await ended(jobs, queued.id);
    const span = await spanOf(sdk, queued);
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(request.spanContext().traceId);
    expect(span.links.map((link) => link.context.spanId)).toEqual([request.spanContext().spanId]);
  });

  it("a job that waits for a slot starts in its own request's trace, even when another job's end starts it", async () => {
    const { sdk, jobs, inRequest } = await setup();
    let release = () => {};
    const blocker = new Promise<void>((resolve) => {
      release = resolve;
    });
    const exclusive = jobs.define('exclusive', async () => blocker, { concurrency: 1 });
    const { result: first } = await inRequest('POST /first', () => exclusive.run({ n: 1 }));
    const { result: second, request } = await inRequest('POST /second', () => exclusive.run({ n: 2 }));
    await jobWhen(jobs, first.id, (job) => job.state === 'running');
    expect(jobs.get(second.id)?.state).toBe('queued');
    release();
    await ended(jobs, second.id);
    expect((await spanOf(sdk, second)).parentSpanContext?.spanId).toBe(request.spanContext().spanId);
  });

  it('a job without a request is a root span', async () => {
    const { sdk, jobs } = await setup();
    const queued = await jobs.run({ category: 'nightly', target: { site: 'a' } }, async () => {});
    await ended(jobs, queued.id);
    const span = await spanOf(sdk, queued);
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.attributes['realtime_jobs.target.site']).toBe('a');
  });

  it('a failed job has error status, its message and its code', async () => {
    const { sdk, jobs, inRequest } = await setup();
    const { result: queued } = await inRequest('POST /push', () =>
      jobs.run({ category: 'sync-push' }, async () => {
        throw Object.assign(new Error('connect ECONNREFUSED 10.0.0.7:443'), { code: 'ECONNREFUSED' });
      }),
    );
    await ended(jobs, queued.id);
    const span = await spanOf(sdk, queued);
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'connect ECONNREFUSED 10.0.0.7:443' });
    expect(span.attributes).toMatchObject({ 'realtime_jobs.state': 'error', 'error.type': 'ECONNREFUSED' });

    const slow = await jobs.run({ category: 'slow' }, () => new Promise(() => {}), { timeoutMs: 20 });
    await ended(jobs, slow.id);
    const timedOut = await spanOf(sdk, slow);
    expect(timedOut.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Timed out after 20 ms' });
    expect(timedOut.attributes['error.type']).toBe('timeout');
  });

  it('retries show as attempts of one run, each in the same span', async () => {
    const { sdk, jobs } = await setup();
    const seen: Array<string | undefined> = [];
    const flaky = jobs.define(
      'flaky',
      async (ctx) => {
        seen.push(trace.getActiveSpan()?.spanContext().spanId);
        if (ctx.attempt < 3) throw Object.assign(new Error(`try ${ctx.attempt} failed`), { code: 'EAGAIN' });
        return { tries: ctx.attempt };
      },
      { retries: 2, backoff: { delayMs: 1 } },
    );
    const queued = await flaky.run({});
    expect((await ended(jobs, queued.id)).state).toBe('success');
    const span = await spanOf(sdk, queued);
    expect(span.attributes).toMatchObject({
      'realtime_jobs.state': 'success',
      'realtime_jobs.attempt': 3,
      'realtime_jobs.max_attempts': 3,
    });
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    const retry = (attempt: number) => [
      'realtime_jobs.retry',
      {
        'realtime_jobs.attempt': attempt,
        'error.type': 'EAGAIN',
        'realtime_jobs.error.message': `try ${attempt} failed`,
      },
    ];
    expect(eventsOf(span)).toEqual([
      retry(1),
      ['realtime_jobs.attempt', { 'realtime_jobs.attempt': 2 }],
      retry(2),
      ['realtime_jobs.attempt', { 'realtime_jobs.attempt': 3 }],
    ]);
    expect(seen).toEqual([1, 2, 3].map(() => span.spanContext().spanId));
  });

  it('a run that waits for approval ends pending; the approved run is a new span in the approver’s trace', async () => {
    const { sdk, jobs, inRequest } = await setup();
    const deploy = jobs.define('deploy', async (ctx) => {
      if (!ctx.approval) ctx.awaitApproval('Needs a second pair of eyes');
      return {};
    });
    const { result: queued } = await inRequest('POST /deploy', () => deploy.run({}));
    await jobWhen(jobs, queued.id, (job) => job.state === 'pending');
    const asked = await spanOf(sdk, queued);
    expect(asked.attributes['realtime_jobs.state']).toBe('pending');

    const { request: approval } = await inRequest('POST /approve', () => jobs.approve(queued.id, { by: 'ops' }));
    await ended(jobs, queued.id);
    const approved = await spanOf(sdk, queued, 1);
    expect(approved.parentSpanContext?.spanId).toBe(approval.spanContext().spanId);
    expect(approved.attributes['realtime_jobs.state']).toBe('success');
  });

  it('an enqueued job the app drives itself gets a span too, from running to its end', async () => {
    const { sdk, jobs, inRequest } = await setup();
    const { result: job, request } = await inRequest('POST /import', () =>
      jobs.enqueue({ category: 'import', state: 'running', phase: 'reading' }),
    );
    await jobs.update(job.id, { phase: 'writing' });
    await jobs.update(job.id, { state: 'warning', message: '2 rows skipped' });
    const span = await spanOf(sdk, job);
    expect(span.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(eventsOf(span).map(([, attributes]) => attributes)).toEqual([
      { 'realtime_jobs.phase': 'reading' },
      { 'realtime_jobs.phase': 'writing' },
    ]);
    expect(span.attributes['realtime_jobs.state']).toBe('warning');
    // A pending job is nobody's run until someone approves it.
    await jobs.enqueue({ category: 'import', state: 'pending' });
    expect(sdk.spans()).toHaveLength(1 + 1); // the request's span and the job's
  });
});

describe('metrics', () => {
  it('counts started and ended jobs by category and state, with run and queue-wait histograms', async () => {
    const { sdk, jobs } = await setup();
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const push = jobs.define(
      'sync-push',
      async (ctx) => {
        await gate;
        if (ctx.input.fail) throw new Error('refused');
        return {};
      },
      { concurrency: 1 },
    );
    const a = await push.run({ n: 1 });
    const b = await push.run({ n: 2 });
    const c = await push.run({ n: 3, fail: true });
    const cancelled = await push.run({ n: 4 });
    await jobs.cancel(cancelled.id);
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    for (const job of [a, b, c]) await ended(jobs, job.id);
    const verify = await jobs.run({ category: 'verify' }, async () => {});
    await ended(jobs, verify.id);

    const metrics = await sdk.metrics();
    const push_ = { 'realtime_jobs.category': 'sync-push' };
    expect(metrics.value('realtime_jobs.jobs.started', push_)).toBe(3);
    expect(metrics.value('realtime_jobs.jobs.started', { 'realtime_jobs.category': 'verify' })).toBe(1);
    expect(metrics.value('realtime_jobs.jobs.ended', { ...push_, 'realtime_jobs.state': 'success' })).toBe(2);
    expect(metrics.value('realtime_jobs.jobs.ended', { ...push_, 'realtime_jobs.state': 'error' })).toBe(1);
    // Cancelled while queued: it ended without a run.
    expect(metrics.value('realtime_jobs.jobs.ended', { ...push_, 'realtime_jobs.state': 'cancelled' })).toBe(1);
    expect(metrics.metric('realtime_jobs.jobs.ended')?.descriptor.unit).toBe('{job}');

    const runs = metrics.histogram('realtime_jobs.run.duration', { ...push_, 'realtime_jobs.state': 'success' });
    expect(runs.count).toBe(2);
    // The first run waited for the gate (≥ 20 ms).
    expect(runs.sum).toBeGreaterThanOrEqual(0.015);
    expect(metrics.metric('realtime_jobs.run.duration')?.descriptor.unit).toBe('s');
    const waits = metrics.histogram('realtime_jobs.queue.wait_time', push_);
    expect(waits.count).toBe(3);
    // The second and third waited for the first (concurrency 1).
    expect(waits.sum).toBeGreaterThanOrEqual(0.03);
  });

  it('times store writes and reports the store health', async () => {
    const { sdk, jobs } = await setup();
    const job = await jobs.run({ category: 'c' }, async (ctx) => {
      await ctx.log('hello');
    });
    await ended(jobs, job.id);
    const metrics = await sdk.metrics();
    const memory = { 'realtime_jobs.store.kind': 'memory' };
    for (const operation of ['create', 'write', 'appendLog']) {
      const writes = metrics.histogram('realtime_jobs.store.write.duration', {
        ...memory,
        'realtime_jobs.store.operation': operation,
      });
      expect(writes.count, operation).toBeGreaterThan(0);
    }
    // Created, running, success.
    expect(metrics.histogram('realtime_jobs.store.write.duration', memory).count).toBe(3 + 1);
    expect(metrics.value('realtime_jobs.store.healthy', memory)).toBe(1);
    expect(metrics.value('realtime_jobs.store.pending_writes', memory)).toBe(0);

    // A store fault shows: the failed write's error type, and the store's health.
    const failing = await setupWithStore();
    const broken = await failing.jobs.enqueue({ category: 'c', state: 'running' });
    failing.fail = true;
    await expect(failing.jobs.update(broken.id, { progress: 0.5 })).rejects.toThrow('disk on fire');
    const after = await failing.sdk.metrics();
    expect(after.histogram('realtime_jobs.store.write.duration', { 'error.type': 'Error' }).count).toBe(1);
    expect(after.value('realtime_jobs.store.healthy', { 'realtime_jobs.store.kind': 'flaky' })).toBe(0);
  });

  it('stops observing the store once the registry closes', async () => {
    // Delta: a gauge shows only what was observed since the last collection.
    const sdk = otelSdk(AggregationTemporality.DELTA);
    const telemetry = openTelemetryInstrumentation({ meterProvider: sdk.meterProvider });
    const jobs = await testRegistry({ instrumentation: telemetry });
    expect((await sdk.metrics()).points('realtime_jobs.store.healthy')).toHaveLength(1);
    await jobs.close();
    expect((await sdk.metrics()).points('realtime_jobs.store.healthy')).toHaveLength(0);
  });
});

/** A registry on a memory store that fails its writes (and says so in health()) while `fail` is set. */
async function setupWithStore() {
  const sdk = otelSdk();
  const telemetry = openTelemetryInstrumentation({
    tracerProvider: sdk.tracerProvider,
    meterProvider: sdk.meterProvider,
  });
  const inner = memoryStore();
  const state = { fail: false };
  const store = {
    ...inner,
    kind: 'flaky',
    write: (...args: Parameters<typeof inner.write>) =>
      state.fail ? Promise.reject(new Error('disk on fire')) : inner.write(...args),
    health: () => ({ ...inner.health(), ok: !state.fail, error: state.fail ? 'disk on fire' : null }),
  };
  const jobs = await testRegistry({ store, instrumentation: telemetry, onError: () => {} });
  return {
    sdk,
    jobs,
    set fail(value: boolean) {
      state.fail = value;
    },
  };
}

describe('stream metrics', () => {
  /** An endpoint with the instrumentation, and a way to open a stream on it with a sink of our own. */
  async function streams() {
    const { sdk, telemetry, jobs } = await setup();
    const endpoint = createJobsEndpoint(jobs, { allowAnonymous: true, instrumentation: telemetry, stallTimeoutMs: 30 });
    const open = async (headers: Record<string, string> = {}, accepting = true) => {
      const response = await endpoint.handle(
        { method: 'GET', path: '/events', query: new URLSearchParams(), header: (name) => headers[name] },
        null,
      );
      const stream = response.stream as JobStream;
      const sink: StreamSink = { write: () => accepting, end: () => {} };
      stream.start(sink);
      return stream;
    };
    const read = async () => {
      const metrics = await sdk.metrics();
      return {
        open: metrics.value('realtime_jobs.streams.open'),
        evictions: metrics.value('realtime_jobs.streams.evictions'),
        resyncs: metrics.points('realtime_jobs.streams.resyncs').map((point) => [point.attributes, point.value]),
      };
    };
    return { jobs, open, read };
  }

  it('move as streams open, close, get evicted or resync', async () => {
    const { jobs, open, read } = await streams();
    expect(await read()).toEqual({ open: 0, evictions: 0, resyncs: [] });
    const first = await open();
    const second = await open();
    expect((await read()).open).toBe(2);
    first.close('client-closed');
    expect(await read()).toEqual({ open: 1, evictions: 0, resyncs: [] });

    // A reader that takes nothing is evicted after stallTimeoutMs.
    const stalled = await open({}, false);
    await jobs.enqueue({ category: 'c' });
    await waitFor(() => stalled.closed, 'the stalled reader to be evicted');
    expect(stalled.closeReason).toBe('evicted');
    expect(await read()).toEqual({ open: 1, evictions: 1, resyncs: [] });

    // A resume from an id this store never sent gets a resync.
    const resumed = await open({ 'last-event-id': 'nonsense' });
    await waitFor(async () => (await read()).resyncs.length > 0, 'the resync to be counted');
    expect(await read()).toEqual({
      open: 2,
      evictions: 1,
      resyncs: [[{ 'realtime_jobs.resync.reason': 'malformed event id' }, 1]],
    });
    // A resume the store can replay is no resync.
    await open({ 'last-event-id': jobs.head() });
    await jobs.close();
    expect(second.closed && resumed.closed).toBe(true);
    expect((await read()).open).toBe(0);
    expect((await read()).resyncs).toHaveLength(1);
  });
});

describe('options', () => {
  it('are checked, each error naming its field', () => {
    const refused = (options: unknown) => {
      try {
        openTelemetryInstrumentation(options as never);
      } catch (error) {
        return (error as { field?: string }).field;
      }
      return 'accepted';
    };
    expect(refused(null)).toBe('options');
    expect(refused({ tracer: {} })).toBe('tracer');
    expect(refused({ tracerProvider: {} })).toBe('tracerProvider');
    expect(refused({ meterProvider: 42 })).toBe('meterProvider');
    expect(refused({ requestSpan: 'child' })).toBe('requestSpan');
    expect(refused({})).toBe('accepted');
    expect(refused(undefined)).toBe('accepted');
  });

  it('serve one registry at a time', async () => {
    const { telemetry, jobs } = await setup();
    await expect(testRegistry({ instrumentation: telemetry })).rejects.toMatchObject({
      code: 'invalid_options',
      field: 'instrumentation',
    });
    await jobs.close();
    const next = await testRegistry({ instrumentation: telemetry });
    expect(next.closed).toBe(false);
  });
});
