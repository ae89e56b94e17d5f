// The job routes played by a scripted `fetch` (the feed's own `fetch` option), with real Response
// and ReadableStream objects, for tests of the feed's state machine under fake timers: every wait
// (backoff, poll interval, watchdog) is advanced explicitly, so "within one polling interval" is
// checked to the millisecond and "never retried" over ten minutes, in no time.
// src/client/feed/feed.test.ts runs the feed against the real routes over HTTP.
import { afterEach, beforeEach, vi } from 'vitest';
import {
  createJobFeed,
  type JobFeedConnection,
  type JobFeedError,
  type JobFeedOptions,
} from '../../src/client/feed/index.js';
import type { Job } from '../../src/protocol/job.js';

export const POLL_MS = 1000;
export const HEARTBEAT_MS = 10_000;
/** The feed's first wait after a failure, without a `retry:` from the server. */
export const FIRST_RETRY_MS = 3000;

const encoder = new TextEncoder();

export const job = (fields: Partial<Job>): Job => ({
  id: 'job-1',
  category: 'sync-push',
  target: {},
  scope: 'admin',
  state: 'running',
  phase: null,
  progress: null,
  message: null,
  data: {},
  result: null,
  error: null,
  attempt: 1,
  maxAttempts: 1,
  retryOf: null,
  key: null,
  queuedAt: '2026-11-28T12:00:00.000Z',
  startedAt: null,
  finishedAt: null,
  updatedAt: '2026-11-28T12:00:00.000Z',
  version: 1,
  ...fields,
});

/** One SSE frame; no `id:` unless given (snapshot frames carry none). */
export const frame = (event: string, data: unknown, id?: string) =>
  `${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/** A stream answer the test writes to, ends, or breaks. */
export class ScriptedStream {
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

export interface Seen {
  url: URL;
  headers: Headers;
  signal: AbortSignal;
}

/**
 * The job routes, scripted: `onStream` answers each stream request (by default a healthy stream that
 * sends the jobs of `jobs` as a snapshot and `ready`), `onList` each poll (by default the list, with
 * an ETag and 304).
 */
export function scriptedRoutes() {
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
    /** Answers each stream request with a new stream that `script` writes to; `attempt` counts from 0. */
    scriptStreams(script: (stream: ScriptedStream, attempt: number) => void): void {
      routes.onStream = (signal) => {
        const stream = new ScriptedStream(signal);
        streams.push(stream);
        script(stream, streams.length - 1);
        return stream.response;
      };
    },
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

export const refused = () => Promise.reject(new TypeError('fetch failed: connect ECONNREFUSED'));
export const html = (status: number) => () =>
  new Response('<html><body>Bad gateway</body></html>', { status, headers: { 'content-type': 'text/html' } });
export const json = (status: number, code: string) => () =>
  new Response(JSON.stringify({ error: { code, message: `a ${status}` } }), {
    status,
    headers: { 'content-type': 'application/json' },
  });

/** Lets every pending promise chain run (the fake clock does not move). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Moves the fake clock, firing due timers and letting what they start finish. */
export async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await settle();
}

/**
 * Runs each test of the calling file on fake timers (setImmediate stays real: {@link settle} uses it)
 * with no jitter, so backoff waits are exact; closes the feeds {@link startFeed} opened.
 */
export function useFakeClock(): void {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
    vi.spyOn(Math, 'random').mockReturnValue(0);
  });
  afterEach(() => {
    for (const cleanup of cleanups.splice(0)) cleanup();
    vi.useRealTimers();
    vi.restoreAllMocks();
  });
}

const cleanups: Array<() => void> = [];

/** A feed on `routes`, subscribed to `sync-push` jobs, recording what it sees and reports. */
export async function startFeed(routes: ReturnType<typeof scriptedRoutes>, options: Partial<JobFeedOptions> = {}) {
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
  const off = feed.subscribe({ category: 'sync-push' }, (each) => seen.push(each));
  await settle();
  return { feed, off, errors, connections, seen, latest: () => seen.at(-1) };
}
