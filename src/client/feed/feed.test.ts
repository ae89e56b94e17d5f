// The feed over real HTTP, in two suites that share this file's servers and recorders: against the
// real routes (sharing, resume, refusals, polling, hidden pages), and against a hand-written SSE server
// for what the routes never send (stale versions, resync, silence, oversized events). Kept together
// (about 330 lines) because splitting would move those helpers into a module of their own for two
// files; the state machine under fake timers is in polling, resume and refusal tests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { frame, job } from '../../../test/support/scripted-routes.js';
import { waitFor } from '../../../test/support/wait.js';
import { toNodeHandler } from '../../adapters/node.js';
import { createJobsEndpoint } from '../../core/http/endpoint.js';
import type { Principal } from '../../core/http/principal.js';
import { createJobRegistry, type JobRegistry } from '../../core/registry.js';
import type { Job } from '../../protocol/job.js';
import { createJobFeed, type JobFeed, type JobFeedError, type JobFeedState } from './index.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Seen {
  method: string;
  url: URL;
  lastEventId: string | undefined;
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jobs`, server };
}

/** The real job routes on node:http, recording every request. */
async function realServer(
  options: { authorize?: () => Principal | null; registry?: JobRegistry; failStream?: () => boolean } = {},
) {
  const registry = options.registry ?? (await createJobRegistry({ onError: () => {} }));
  cleanups.push(() => registry.close());
  const endpoint = createJobsEndpoint<IncomingMessage>(registry, {
    authorize: options.authorize ?? (() => ({ id: 'admin', scopes: ['admin'] })),
    retryMs: 20,
  });
  const handle = toNodeHandler(endpoint, { prefix: '/jobs' });
  const requests: Seen[] = [];
  const { url } = await listen((req, res) => {
    const seen = {
      method: req.method ?? 'GET',
      url: new URL(req.url ?? '/', 'http://x'),
      lastEventId: req.headers['last-event-id'] as string | undefined,
    };
    requests.push(seen);
    if (seen.url.pathname.endsWith('/events') && options.failStream?.()) {
      res.writeHead(502, { 'content-type': 'text/html' }).end('<h1>Bad gateway</h1>');
      return;
    }
    void handle(req, res, req);
  });
  return {
    url,
    registry,
    endpoint,
    requests,
    streams: () => requests.filter((r) => r.url.pathname.endsWith('/events')),
  };
}

function feedFor(url: string, extra: Partial<Parameters<typeof createJobFeed>[0]> = {}) {
  const states: JobFeedState[] = [];
  const errors: JobFeedError[] = [];
  const feed = createJobFeed({
    url,
    onStateChange: (state) => states.push(state),
    onError: (error) => errors.push(error),
    ...extra,
  });
  cleanups.push(() => feed.close());
  return { feed, states, errors };
}

function collect(feed: JobFeed, filter: Parameters<JobFeed['subscribe']>[0]) {
  const jobs: Job[] = [];
  const off = feed.subscribe(filter, (job) => jobs.push(job));
  return { jobs, off };
}

/** A hand-written SSE server: each connection gets the next script (what to write, then stay open or end). */
async function scriptedServer(scripts: Array<(res: ServerResponse, req: IncomingMessage) => void>) {
  const requests: Seen[] = [];
  const { url } = await listen((req, res) => {
    requests.push({
      method: req.method ?? 'GET',
      url: new URL(req.url ?? '/', 'http://x'),
      lastEventId: req.headers['last-event-id'] as string | undefined,
    });
    const script = scripts[Math.min(requests.length - 1, scripts.length - 1)] as (typeof scripts)[number];
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
    res.write('retry: 20\n\n');
    script(res, req);
  });
  return { url, requests };
}

describe('createJobFeed against the real routes', () => {
  it('shares one connection among subscriptions, filters on the client, and streams live changes', async () => {
    const { url, registry, streams } = await realServer();
    const a = await registry.enqueue({ category: 'sync-push', target: { peer: 'a' } });
    await registry.enqueue({ category: 'sync-push', target: { peer: 'b' } });
    const { feed } = feedFor(url);
    const onA = collect(feed, { category: 'sync-push', target: { peer: 'a' } });
    const all = collect(feed, { category: 'sync-push' });
    await waitFor(() => feed.state === 'streaming', 'streaming');
    expect(streams()).toHaveLength(1);
    expect(streams()[0]?.url.searchParams.getAll('category')).toEqual(['sync-push']);
    expect(onA.jobs.map((j) => j.id)).toEqual([a.id]);
    expect(all.jobs).toHaveLength(2);

    await registry.update(a.id, { state: 'running', progress: 0.5 });
    await waitFor(() => onA.jobs.at(-1)?.progress === 0.5, 'live update');
    // A later subscription that the connection already covers joins it and gets what is held. (A bare
    // `{ jobId }` is not covered by a category filter: it would reconnect for a wider one.)
    const late = collect(feed, { category: 'sync-push', jobId: a.id });
    await waitFor(() => late.jobs.length === 1, 'late subscriber served');
    expect(late.jobs[0]?.version).toBe(2);
    expect(streams()).toHaveLength(1);
  });

  it('reconnects without Last-Event-ID when a subscription widens the filter, and takes the fresh snapshot', async () => {
    const { url, registry, streams } = await realServer();
    const { feed } = feedFor(url);
    const pushes = collect(feed, { category: 'sync-push' });
    await waitFor(() => feed.state === 'streaming', 'streaming');
    await registry.enqueue({ category: 'sync-push' }); // gives the feed a Last-Event-ID to hold
    const pull = await registry.enqueue({ category: 'sync-pull', target: { peer: 'z' } });
    await waitFor(() => pushes.jobs.length === 1, 'the live event and its id');
    const pulls = collect(feed, { category: 'sync-pull', target: { peer: 'z' } });
    await waitFor(() => streams().length === 2 && feed.state === 'streaming', 'widened');
    expect(streams()[1]?.lastEventId).toBeUndefined();
    expect(streams()[1]?.url.searchParams.getAll('category').sort()).toEqual(['sync-pull', 'sync-push']);
    await waitFor(() => pulls.jobs.some((j) => j.id === pull.id), 'snapshot job delivered');
  });

  it('keeps its stream when the last subscription is replaced in the same task (a tile swapped for a new one)', async () => {
    const { url, registry, streams } = await realServer();
    const { feed } = feedFor(url);
    const old = collect(feed, { category: 'sync-push' });
    await waitFor(() => feed.state === 'streaming', 'streaming');
    // What a fragment refresh does: the old element unsubscribes, the new one subscribes, one task.
    old.off();
    const replacement = collect(feed, { category: 'sync-push' });
    const job = await registry.enqueue({ category: 'sync-push' });
    await waitFor(() => replacement.jobs.some((seen) => seen.id === job.id), 'the new job, live');
    expect(feed.state).toBe('streaming');
    expect(streams()).toHaveLength(1);
  });

  it('starts from a fresh snapshot when a new subscription follows the last one ending', async () => {
    const { url, registry, streams } = await realServer();
    const { feed } = feedFor(url);
    const first = collect(feed, { category: 'sync-push' });
    await waitFor(() => feed.state === 'streaming', 'streaming');
    await registry.enqueue({ category: 'sync-push' });
    await waitFor(() => first.jobs.length === 1, 'first job');
    first.off();
    await Promise.resolve(); // the feed lets go at the end of the task
    expect(feed.state).toBe('idle');
    const pull = await registry.enqueue({ category: 'sync-pull' });
    const second = collect(feed, { category: 'sync-pull' });
    await waitFor(() => second.jobs.some((j) => j.id === pull.id), 'snapshot of the new filter');
    expect(streams()[1]?.lastEventId).toBeUndefined();
  });

  it('resumes with Last-Event-ID after the stream ends, and misses nothing', async () => {
    const { url, registry, endpoint, streams } = await realServer();
    const { feed } = feedFor(url);
    const seen = collect(feed, {});
    await waitFor(() => feed.state === 'streaming', 'streaming');
    const one = await registry.enqueue({ category: 'sync-push' });
    await waitFor(() => seen.jobs.length === 1, 'first job');
    endpoint.closeStreams();
    const two = await registry.enqueue({ category: 'sync-pull' }); // happens while disconnected
    await waitFor(() => streams().length === 2 && seen.jobs.some((j) => j.id === two.id), 'resumed');
    expect(streams()[1]?.lastEventId).toMatch(/-/);
    expect(seen.jobs.filter((j) => j.id === one.id)).toHaveLength(1);
  });

  // That nothing is retried meanwhile is checked with fake timers in machine.test.ts.
  it('stops on 401 and reports it, until reconnect()', async () => {
    let principal: Principal | null = null;
    const { url, requests } = await realServer({ authorize: () => principal });
    const { feed, errors, states } = feedFor(url);
    collect(feed, {});
    await waitFor(() => feed.state === 'denied', 'denied');
    expect(errors.map((e) => [e.code, e.status])).toEqual([['unauthorized', 401]]);
    expect(feed.error?.message).toBe('Log in to see jobs');
    expect(requests).toHaveLength(1);
    expect(states.at(-1)).toBe('denied');
    expect(feed.connection).toBe('offline');

    principal = { id: 'admin', scopes: ['admin'] };
    feed.reconnect();
    await waitFor(() => feed.state === 'streaming', 'streaming after reconnect()');
  });

  it('reports 403 as forbidden', async () => {
    const { url } = await realServer({ authorize: () => ({ id: 'nobody', scopes: [] }) });
    const { feed, errors } = feedFor(url);
    collect(feed, {});
    await waitFor(() => feed.state === 'denied', 'denied');
    expect(errors[0]?.code).toBe('forbidden');
  });

  it('polls the list (with ETag) when the stream cannot be held, and returns to streaming when it can', async () => {
    let broken = true;
    const { url, registry, requests } = await realServer({ failStream: () => broken });
    const job = await registry.enqueue({ category: 'sync-push' });
    // The server's `retry:` never arrives (no stream opens): cap the backoff so the test is quick.
    const { feed, states } = feedFor(url, { pollIntervalMs: 30, maxRetryMs: 100 });
    const seen = collect(feed, { category: 'sync-push' });
    await waitFor(() => feed.state === 'polling', 'polling');
    await waitFor(() => seen.jobs.some((j) => j.id === job.id), 'polled job');
    await registry.update(job.id, { state: 'running', message: 'via poll' });
    await waitFor(() => seen.jobs.at(-1)?.message === 'via poll', 'polled update');
    const polls = requests.filter((r) => !r.url.pathname.endsWith('/events'));
    expect(polls[0]?.url.searchParams.get('limit')).toBe('100');
    expect(polls[0]?.url.searchParams.getAll('category')).toEqual(['sync-push']);
    broken = false;
    await waitFor(() => feed.state === 'streaming', 'streaming again');
    expect(states).toContain('polling');
    await registry.update(job.id, { state: 'success' });
    await waitFor(() => seen.jobs.at(-1)?.state === 'success', 'streamed update');
  });

  it('pauses while the page is hidden and catches up when shown', async () => {
    const { url, registry, endpoint, streams } = await realServer();
    const listeners = new Set<() => void>();
    const doc = {
      visibilityState: 'visible',
      // Only visibility: the feed also listens for `freeze` and `resume` on the document.
      addEventListener: (type: string, listener: () => void) => type === 'visibilitychange' && listeners.add(listener),
      removeEventListener: (_: string, listener: () => void) => listeners.delete(listener),
    };
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'document');
    Object.defineProperty(globalThis, 'document', { value: doc, configurable: true });
    cleanups.push(() => {
      if (saved) Object.defineProperty(globalThis, 'document', saved);
      else delete (globalThis as { document?: unknown }).document;
    });
    const { feed } = feedFor(url);
    const seen = collect(feed, {});
    await waitFor(() => feed.state === 'streaming', 'streaming');
    await registry.enqueue({ category: 'before-hiding' });
    await waitFor(() => seen.jobs.length === 1, 'first job');
    doc.visibilityState = 'hidden';
    for (const listener of listeners) listener();
    expect(feed.state).toBe('paused');
    await waitFor(() => endpoint.openStreams === 0, 'stream released on the server');
    const job = await registry.enqueue({ category: 'while-hidden' });
    doc.visibilityState = 'visible';
    for (const listener of listeners) listener();
    await waitFor(() => seen.jobs.some((j) => j.id === job.id), 'caught up');
    expect(streams()).toHaveLength(2);
    expect(streams()[1]?.lastEventId).toBeDefined();
  });
});

describe('createJobFeed protocol handling (scripted server)', () => {
  it('drops updates whose version is not newer than the one held', async () => {
    const { url } = await scriptedServer([
      (res) => {
        res.write(frame('job-update', job({ version: 3, message: 'v3' }), 'e-1'));
        res.write(frame('ready', { head: 'e-1' }));
        res.write(frame('job-update', job({ version: 2, message: 'v2 (stale)' }), 'e-2'));
        res.write(frame('job-update', job({ version: 3, message: 'v3 again' }), 'e-3'));
        res.write(frame('job-update', job({ version: 4, message: 'v4' }), 'e-4'));
      },
    ]);
    const { feed } = feedFor(url);
    const seen = collect(feed, {});
    await waitFor(() => seen.jobs.at(-1)?.version === 4, 'v4');
    expect(seen.jobs.map((j) => j.message)).toEqual(['v3', 'v4']);
  });

  it('after `resync`, takes the snapshot as the truth even when versions went back', async () => {
    const { url, requests } = await scriptedServer([
      (res) => {
        res.write(frame('job-update', job({ version: 5, state: 'running' }), 'old-9'));
        res.write(frame('job-update', job({ id: 'gone', version: 1 }), 'old-9'));
        res.write(frame('ready', { head: 'old-9' }));
        res.end();
      },
      (res) => {
        res.write(frame('resync', { reason: 'unknown epoch' }));
        res.write(frame('job-update', job({ version: 2, state: 'error', message: 'restarted' }), 'new-2'));
        res.write(frame('ready', { head: 'new-2' }));
      },
    ]);
    const { feed } = feedFor(url);
    const seen = collect(feed, {});
    await waitFor(() => seen.jobs.at(-1)?.message === 'restarted', 'resynced');
    expect(requests[1]?.lastEventId).toBe('old-9');
    // The job missing from the authoritative snapshot is no longer held: a new subscriber does not get it.
    const later = collect(feed, {});
    await new Promise<void>((resolve) => queueMicrotask(resolve)); // held jobs are served in a microtask
    expect(later.jobs.map((j) => j.id)).toEqual(['job-1']);
  });

  it('reconnects when the stream goes silent past 2.5 heartbeats', async () => {
    const { url, requests } = await scriptedServer([(res) => res.write(frame('ready', { head: 'h-1' }, 'h-1'))]);
    const { feed, errors } = feedFor(url, { heartbeatMs: 40 });
    collect(feed, {});
    await waitFor(() => requests.length >= 2, 'second connection');
    expect(requests[1]?.lastEventId).toBe('h-1');
    expect(errors.some((e) => e.message.includes('silent'))).toBe(true);
  });

  it('drops a connection that sends an event over maxEventSize, and reconnects', async () => {
    const { url, requests } = await scriptedServer([
      (res) => res.write(`event: job-update\ndata: ${'x'.repeat(5000)}`),
      (res) => res.write(frame('ready', { head: 'ok' })),
    ]);
    const { feed, errors } = feedFor(url, { maxEventSize: 1000 });
    collect(feed, {});
    await waitFor(() => feed.state === 'streaming', 'streaming on the second connection');
    expect(requests).toHaveLength(2);
    expect(errors.some((e) => e.code === 'protocol')).toBe(true);
  });

  it('validates its options and filters, naming the field', () => {
    expect(() => createJobFeed({ url: '' })).toThrow(/`url`/);
    expect(() => createJobFeed({ url: '/relative/in/node' })).toThrow(/`url`/);
    expect(() => createJobFeed({ url: 'http://127.0.0.1:1/jobs', pollIntervalMs: -1 })).toThrow(/`pollIntervalMs`/);
    const feed = createJobFeed({ url: 'http://127.0.0.1:1/jobs' });
    expect(() => feed.subscribe({ category: 'bad category!' }, () => {})).toThrow(/`filter.category`/);
    expect(() => feed.subscribe({ jobId: ['ok', 42 as never] }, () => {})).toThrow(/`filter.jobId`/);
    expect(() => feed.subscribe({}, 'nope' as never)).toThrow(/`callback`/);
    feed.close();
    expect(() => feed.subscribe({}, () => {})).toThrow(/closed/);
  });
});
