// The feed's state machine under fake timers: every wait (backoff, poll interval, watchdog) is
// advanced explicitly, so "within one polling interval" is checked to the millisecond and "never
// retried" over ten minutes, in no time. The routes are answered by a scripted `fetch` (the feed's
// own `fetch` option) with real Response and ReadableStream objects; feed.test.ts runs the feed
// against the real routes over HTTP.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../../protocol/job.js';
import { createJobFeed, type JobFeedConnection, type JobFeedError, type JobFeedOptions } from './index.js';

const POLL_MS = 1000;
const HEARTBEAT_MS = 10_000;
/** The feed's first wait after a failure, without a `retry:` from the server. */
const FIRST_RETRY_MS = 3000;

const encoder = new TextEncoder();

const job = (fields: Partial<Job>): Job => ({
  id: 'job-1',
  category: 'sync-push',
  target: {},
  scope: 'admin',
  state: 'running',
  phase: null,
  progress: null,
  message: null,
  data: {},
  queuedAt: '2026-11-28T12:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  updatedAt: '2026-11-28T12:00:00.000Z',
  version: 1,
  ...fields,
});

/** One SSE frame; no `id:` unless given (snapshot frames carry none). */
const frame = (event: string, data: unknown, id?: string) =>
  `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** A stream answer the test writes to, ends, or breaks. */
class ScriptedStream {
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  readonly response: Response;
  cancelled = false;

  constructor(signal: AbortSignal) {
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      cancel: () => {
        this.cancelled = true;
      },
    });
    this.response = new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
    // As a real fetch does: aborting the request errors its body.
    signal.addEventListener('abort', () => this.reset(new DOMException('aborted', 'AbortError')));
  }

  send(...frames: string[]): void {
    for (const text of frames) this.#controller.enqueue(encoder.encode(text));
  }

  end(): void {
    this.#controller.close();
  }

  /** The connection is reset mid-stream. */
  reset(error: unknown = new TypeError('network error')): void {
    try {
      this.#controller.error(error);
    } catch {
      // Already closed.
    }
  }
}

interface Seen {
  url: URL;
  headers: Headers;
  signal: AbortSignal;
}

/**
 * The job routes, scripted: `onStream` answers each stream request (by default a healthy stream that
 * sends the jobs of `jobs` as a snapshot and `ready`), `onList` each poll (by default the list, with
 * an ETag and 304).
 */
function scriptedRoutes() {
  const jobs = new Map<string, Job>();
  const streams: ScriptedStream[] = [];
  const streamRequests: Seen[] = [];
  const listRequests: Seen[] = [];
  let head = 0;
  const healthy = (signal: AbortSignal): Response => {
    const stream = new ScriptedStream(signal);
    streams.push(stream);
    stream.send(...[...jobs.values()].map((each) => frame('job-update', each)));
    stream.send(frame('ready', { head: `h-${head}` }, `h-${head}`));
    return stream.response;
  };
  const list = (seen: Seen): Response => {
    const body = JSON.stringify({ jobs: [...jobs.values()].reverse() });
    const etag = `W/"${body.length}-${head}"`;
    if (seen.headers.get('if-none-match') === etag) return new Response(null, { status: 304, headers: { etag } });
    return new Response(body, { headers: { 'content-type': 'application/json', etag } });
  };
  const routes = {
    jobs,
    streams,
    streamRequests,
    listRequests,
    /** The newest stream answer. */
    get stream(): ScriptedStream {
      return streams.at(-1) as ScriptedStream;
    },
    onStream: healthy as (signal: AbortSignal, seen: Seen) => Response | Promise<Response>,
    onList: list as (seen: Seen) => Response | Promise<Response>,
    healthy,
    list,
    /** Changes a job on the "server" (and, like the real routes, on its open streams). */
    update(next: Job): void {
      jobs.set(next.id, next);
      head++;
      for (const stream of streams) {
        try {
          stream.send(frame('job-update', next, `h-${head}`));
        } catch {
          // A stream that already ended.
        }
      }
    },
    fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new URL(String(input));
      const signal = init?.signal ?? new AbortController().signal;
      const seen = { url, headers: new Headers(init?.headers), signal };
      if (signal.aborted) throw new DOMException('aborted', 'AbortError');
      if (url.pathname.endsWith('/events')) {
        streamRequests.push(seen);
        return routes.onStream(signal, seen);
      }
      listRequests.push(seen);
      return routes.onList(seen);
    }) as typeof fetch,
  };
  return routes;
}

const refused = () => Promise.reject(new TypeError('fetch failed: connect ECONNREFUSED'));
const html = (status: number) => () =>
  new Response('<html><body>Bad gateway</body></html>', { status, headers: { 'content-type': 'text/html' } });
const json = (status: number, code: string) => () =>
  new Response(JSON.stringify({ error: { code, message: `a ${status}` } }), {
    status,
    headers: { 'content-type': 'application/json' },
  });

/** Lets every pending promise chain run (the fake clock does not move). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the fake clock, firing due timers and letting what they start finish. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}

const cleanups: Array<() => void> = [];

beforeEach(() => {
  // setImmediate stays real: settle() uses it to let promise chains run.
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  // No jitter: backoff waits are exact.
  vi.spyOn(Math, 'random').mockReturnValue(0);
});

afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

async function start(routes: ReturnType<typeof scriptedRoutes>, options: Partial<JobFeedOptions> = {}) {
  const errors: JobFeedError[] = [];
  const connections: JobFeedConnection[] = [];
  const feed = createJobFeed({
    url: 'http://jobs.test/api/jobs',
    fetch: routes.fetch,
    pollIntervalMs: POLL_MS,
    heartbeatMs: HEARTBEAT_MS,
    onError: (error) => errors.push(error),
    ...options,
  });
  cleanups.push(() => feed.close());
  feed.onConnectionChange((connection) => connections.push(connection));
  const seen: Job[] = [];
  feed.subscribe({ category: 'sync-push' }, (each) => seen.push(each));
  await settle();
  return { feed, errors, connections, seen, latest: () => seen.at(-1) };
}

describe('the feed goes live', () => {
  it('streams: state `streaming`, connection `live`, no poll', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({}));
    const { feed, seen } = await start(routes);
    expect(feed.state).toBe('streaming');
    expect(feed.connection).toBe('live');
    expect(seen.map((each) => each.id)).toEqual(['job-1']);
    routes.update(job({ version: 2, state: 'success' }));
    await settle();
    expect(seen.at(-1)?.state).toBe('success');
    await advance(10 * POLL_MS);
    expect(routes.listRequests).toHaveLength(0);
  });
});

/** Ways a stream fails to open: the routes answer every stream request so while `broken` holds. */
const openFailures: Array<[string, () => Response | Promise<Response>, string]> = [
  ['a network error (connection refused)', refused, 'network'],
  ['404', json(404, 'not_found'), 'http'],
  ['500', json(500, 'internal_error'), 'http'],
  ['502 from a proxy (HTML)', html(502), 'http'],
  ['429', json(429, 'too_many_requests'), 'http'],
  ['an HTML page with 200 (a login page)', html(200), 'http'],
];

/** Ways a live stream is lost. */
const liveFailures: Array<[string, (routes: ReturnType<typeof scriptedRoutes>) => Promise<void>, string]> = [
  ['a connection reset mid-stream', async (routes) => routes.stream.reset(), 'network'],
  ['a stream the server ends', async (routes) => routes.stream.end(), 'network'],
  ['a stream that goes silent past 2.5 heartbeats', () => advance(2.5 * HEARTBEAT_MS), 'network'],
];

describe('any failure of the stream switches to polling within one interval, and back to live', () => {
  for (const [name, answer, code] of openFailures) {
    it(`when the stream answers ${name}`, async () => {
      const routes = scriptedRoutes();
      routes.jobs.set('job-1', job({}));
      routes.onStream = answer;
      const { feed, errors, connections, latest } = await start(routes);
      expect(routes.streamRequests).toHaveLength(1);
      expect(errors.map((error) => error.code)).toEqual([code]);
      expect(feed.state).toBe('connecting');
      expect(routes.listRequests).toHaveLength(0);

      await advance(POLL_MS - 1);
      expect(routes.listRequests).toHaveLength(0);
      await advance(1);
      expect(routes.listRequests).toHaveLength(1);
      expect(latest()?.id).toBe('job-1');
      expect(feed.state).toBe('polling');
      expect(feed.connection).toBe('polling');

      // The job ends while the stream is down: the next poll brings it.
      routes.update(job({ version: 2, state: 'success' }));
      await advance(POLL_MS);
      expect(latest()?.state).toBe('success');
      // Stream attempts went on meanwhile (at 3 s, then 6 s later), and polls stop once one holds.
      expect(routes.streamRequests).toHaveLength(1);
      await advance(FIRST_RETRY_MS - 2 * POLL_MS);
      expect(routes.streamRequests).toHaveLength(2);
      routes.onStream = routes.healthy;
      await advance(2 * FIRST_RETRY_MS);
      expect(routes.streamRequests).toHaveLength(3);
      expect(feed.state).toBe('streaming');
      expect(connections).toEqual(['polling', 'live']);
      const polls = routes.listRequests.length;
      await advance(10 * POLL_MS);
      expect(routes.listRequests).toHaveLength(polls);
    });
  }

  for (const [name, fail, code] of liveFailures) {
    it(`when ${name}`, async () => {
      const routes = scriptedRoutes();
      routes.jobs.set('job-1', job({}));
      const { feed, errors, connections, latest } = await start(routes);
      expect(feed.connection).toBe('live');
      // From now on every stream request is refused, so only polls can bring news.
      routes.onStream = refused;
      await fail(routes);
      await settle();
      const failedAt = Date.now();
      expect(errors[0]?.code).toBe(code);
      routes.update(job({ version: 2, state: 'error', message: 'failed while the stream was down' }));

      await advance(POLL_MS - 1);
      expect(routes.listRequests).toHaveLength(0);
      await advance(1);
      expect(Date.now() - failedAt).toBe(POLL_MS);
      expect(latest()?.state).toBe('error');
      expect(feed.connection).toBe('polling');
      expect(feed.state).toBe('polling');

      routes.onStream = routes.healthy;
      await advance(FIRST_RETRY_MS);
      expect(feed.state).toBe('streaming');
      expect(connections).toEqual(['polling', 'live']);
    });
  }

  it('when a stream request is never answered (a proxy holds it): silent past 2.5 heartbeats', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({ state: 'success' }));
    let released = false;
    routes.onStream = (signal) =>
      new Promise<Response>((_, reject) => {
        signal.addEventListener('abort', () => {
          released = true;
          reject(new DOMException('aborted', 'AbortError'));
        });
      });
    const { feed, errors, latest } = await start(routes);
    await advance(2.5 * HEARTBEAT_MS - 1);
    expect(errors).toEqual([]);
    await advance(1);
    expect(released).toBe(true);
    expect(errors.map((error) => error.message)).toEqual(['The job stream went silent']);
    await advance(POLL_MS);
    expect(feed.connection).toBe('polling');
    expect(latest()?.state).toBe('success');
  });

  it('says `offline` while polls do not reach the server either, and `polling` once they do', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({}));
    const { feed, connections, latest } = await start(routes);
    routes.onStream = refused;
    routes.onList = refused;
    routes.stream.reset();
    await advance(POLL_MS);
    expect(feed.connection).toBe('offline');
    expect(feed.state).toBe('polling');
    await advance(POLL_MS);
    expect(routes.listRequests).toHaveLength(2);

    routes.onList = routes.list;
    routes.update(job({ version: 2, state: 'success' }));
    await advance(POLL_MS);
    expect(feed.connection).toBe('polling');
    expect(latest()?.state).toBe('success');
    // The stream was retried at 3 s (refused), so the next attempt is 6 s later.
    routes.onStream = routes.healthy;
    await advance(2 * FIRST_RETRY_MS);
    expect(connections).toEqual(['offline', 'polling', 'live']);
  });

  it('polls with If-None-Match: an unchanged list costs a 304', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({}));
    routes.onStream = html(502);
    const { seen } = await start(routes);
    await advance(3 * POLL_MS);
    const [first, second, third] = routes.listRequests;
    expect(first?.headers.get('if-none-match')).toBeNull();
    expect(second?.headers.get('if-none-match')).toMatch(/^W\//);
    expect(third?.headers.get('if-none-match')).toBe(second?.headers.get('if-none-match'));
    expect(first?.url.searchParams.get('limit')).toBe('100');
    expect(first?.url.searchParams.getAll('category')).toEqual(['sync-push']);
    expect(seen).toHaveLength(1);
  });

  it('backs off between stream attempts with the server’s `retry:`, doubling up to maxRetryMs', async () => {
    const routes = scriptedRoutes();
    const { feed } = await start(routes, { maxRetryMs: 10_000 });
    routes.stream.send('retry: 2000\n\n');
    await settle();
    routes.onStream = refused;
    routes.stream.end();
    await settle();
    const attemptsAt: number[] = [];
    const startedAt = Date.now();
    for (let i = 0; i < 40; i++) {
      const before = routes.streamRequests.length;
      await advance(500);
      if (routes.streamRequests.length > before) attemptsAt.push(Date.now() - startedAt);
    }
    expect(attemptsAt).toEqual([2000, 6000, 14000]);
    expect(feed.state).toBe('polling');
  });

  it('reconnect() skips the backoff wait', async () => {
    const routes = scriptedRoutes();
    routes.onStream = refused;
    const { feed } = await start(routes);
    routes.onStream = routes.healthy;
    feed.reconnect();
    await settle();
    expect(feed.state).toBe('streaming');
    expect(routes.streamRequests).toHaveLength(2);
  });
});

describe('the server refuses the feed', () => {
  it('401 on the stream: `denied`, `offline`, and nothing is retried for ten minutes until reconnect()', async () => {
    const routes = scriptedRoutes();
    routes.onStream = json(401, 'unauthorized');
    const { feed, errors } = await start(routes);
    expect(feed.state).toBe('denied');
    expect(feed.connection).toBe('offline');
    expect(errors.map((error) => [error.code, error.status, error.message])).toEqual([['unauthorized', 401, 'a 401']]);
    await advance(10 * 60_000);
    expect(routes.streamRequests).toHaveLength(1);
    expect(routes.listRequests).toHaveLength(0);

    routes.onStream = routes.healthy;
    feed.reconnect();
    await settle();
    expect(feed.state).toBe('streaming');
    expect(feed.connection).toBe('live');
  });

  it('403 on a poll stops polling too', async () => {
    const routes = scriptedRoutes();
    routes.onStream = html(502);
    routes.onList = json(403, 'forbidden');
    const { feed, errors } = await start(routes);
    await advance(POLL_MS);
    expect(feed.state).toBe('denied');
    expect(errors.at(-1)?.code).toBe('forbidden');
    await advance(10 * 60_000);
    expect(routes.listRequests).toHaveLength(1);
    expect(routes.streamRequests).toHaveLength(1);
  });

  for (const reason of ['unauthorized', 'forbidden'] as const) {
    it(`the \`denied\` event (${reason}) stops the feed like a ${reason === 'unauthorized' ? 401 : 403}`, async () => {
      const routes = scriptedRoutes();
      routes.jobs.set('job-1', job({}));
      const { feed, errors } = await start(routes);
      expect(feed.state).toBe('streaming');
      routes.stream.send(frame('denied', { reason }));
      await settle();
      expect(feed.state).toBe('denied');
      expect(feed.connection).toBe('offline');
      expect(errors.map((error) => error.code)).toEqual([reason]);
      expect(feed.error?.code).toBe(reason);
      expect(routes.streamRequests[0]?.signal.aborted).toBe(true); // the connection was let go
      await advance(10 * 60_000);
      expect(routes.streamRequests).toHaveLength(1);
      expect(routes.listRequests).toHaveLength(0);
      feed.reconnect();
      await settle();
      expect(routes.streamRequests).toHaveLength(2);
      expect(feed.state).toBe('streaming');
    });
  }
});

describe('exact resume', () => {
  it('resumes from the id `ready` carries, then from each live event’s own', async () => {
    const routes = scriptedRoutes();
    routes.onStream = (signal) => {
      const stream = new ScriptedStream(signal);
      routes.streams.push(stream);
      // An older server put the head on every snapshot frame: the feed must not rely on it either way.
      stream.send(frame('job-update', job({}), 'snap-1'), frame('ready', { head: 'h-7' }, 'h-7'));
      return stream.response;
    };
    await start(routes);
    routes.stream.send(frame('job-update', job({ version: 2 }), 'h-8'));
    await settle();
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    expect(routes.streamRequests.map((seen) => seen.headers.get('last-event-id'))).toEqual([null, 'h-8']);
  });

  it('takes `ready`’s head from its data when it carries no id', async () => {
    const routes = scriptedRoutes();
    routes.onStream = (signal) => {
      const stream = new ScriptedStream(signal);
      routes.streams.push(stream);
      stream.send(frame('job-update', job({})), frame('ready', { head: 'h-3' }));
      return stream.response;
    };
    await start(routes);
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    expect(routes.streamRequests[1]?.headers.get('last-event-id')).toBe('h-3');
  });

  it('a connection cut before `ready` keeps the previous resume point (a snapshot’s and a resync’s)', async () => {
    const routes = scriptedRoutes();
    const scripts: Array<(stream: ScriptedStream) => void> = [
      // 1: a snapshot cut short, its frames carrying ids as an older server sent them.
      (stream) => stream.send(frame('job-update', job({}), 'h-5')),
      // 2: starts over without Last-Event-ID, and completes.
      (stream) => stream.send(frame('job-update', job({}), 'h-5'), frame('ready', { head: 'h-5' }, 'h-5')),
      // 3: resumes from h-5, but the server resyncs and is cut mid-snapshot.
      (stream) => stream.send(frame('resync', { reason: 'restarted' }), frame('job-update', job({ version: 9 }))),
      // 4: must ask from h-5 again.
      (stream) => stream.send(frame('ready', { head: 'h-6' }, 'h-6')),
    ];
    routes.onStream = (signal) => {
      const stream = new ScriptedStream(signal);
      routes.streams.push(stream);
      scripts[routes.streams.length - 1]?.(stream);
      return stream.response;
    };
    const { feed } = await start(routes);
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    expect(feed.state).toBe('streaming');
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    routes.stream.reset();
    await advance(2 * FIRST_RETRY_MS);
    expect(routes.streamRequests.map((seen) => seen.headers.get('last-event-id'))).toEqual([null, null, 'h-5', 'h-5']);
  });

  it('a replay’s events carry their own ids: a replay cut short resumes after the last one received', async () => {
    const routes = scriptedRoutes();
    const scripts: Array<(stream: ScriptedStream) => void> = [
      (stream) => stream.send(frame('ready', { head: 'h-1' }, 'h-1')),
      (stream) => stream.send(frame('job-update', job({ version: 2 }), 'h-2')),
      (stream) => stream.send(frame('ready', { head: 'h-2' }, 'h-2')),
    ];
    routes.onStream = (signal) => {
      const stream = new ScriptedStream(signal);
      routes.streams.push(stream);
      scripts[routes.streams.length - 1]?.(stream);
      return stream.response;
    };
    await start(routes);
    routes.stream.end();
    await advance(FIRST_RETRY_MS);
    routes.stream.end(); // before `ready`: the second failure in a row, so the wait doubles
    await advance(2 * FIRST_RETRY_MS);
    expect(routes.streamRequests.map((seen) => seen.headers.get('last-event-id'))).toEqual([null, 'h-1', 'h-2']);
  });

  it('a stream opened without Last-Event-ID is a full snapshot: missing jobs are dropped, older versions taken', async () => {
    const routes = scriptedRoutes();
    routes.jobs.set('job-1', job({ version: 5, message: 'before the restart' }));
    routes.jobs.set('gone', job({ id: 'gone' }));
    const feed = createJobFeed({ url: 'http://jobs.test/api/jobs', fetch: routes.fetch });
    cleanups.push(() => feed.close());
    const off = feed.subscribe({ category: 'sync-push' }, () => {});
    await settle();
    off(); // idle: the next subscription starts from a snapshot

    // The server restarted with a rebuilt log: job-1 went back to version 2, `gone` is gone.
    routes.jobs.clear();
    routes.jobs.set('job-1', job({ version: 2, message: 'after the restart' }));
    const seen: Job[] = [];
    feed.subscribe({ category: 'sync-push' }, (each) => seen.push(each));
    await settle();
    expect(routes.streamRequests[1]?.headers.get('last-event-id')).toBeNull();
    expect(seen.at(-1)?.message).toBe('after the restart');
    const late: Job[] = [];
    feed.subscribe({}, (each) => late.push(each));
    await settle();
    expect(late.map((each) => [each.id, each.version])).toEqual([['job-1', 2]]);
  });
});
