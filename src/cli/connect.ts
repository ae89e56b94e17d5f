import {
  createJobFeed,
  type JobFeed,
  type JobFeedConnection,
  type JobFeedError,
  type JobFeedFilter,
  type JobFeedState,
} from '../client/feed/index.js';
import type { Job } from '../protocol/job.js';
import { EXIT } from './exit-codes.js';
import type { Status } from './render.js';

/** Why a command stops on its own: the exit code and what to say on stderr. */
export interface Failure {
  code: number;
  message: string;
}

/** How changes reach the terminal, from the feed's `state` and `connection` (see docs/client.md). */
export function statusOf(state: JobFeedState, connection: JobFeedConnection): Status {
  if (state === 'streaming') return 'live';
  if (state === 'polling') return connection === 'polling' ? 'polling' : 'offline';
  if (state === 'denied') return 'offline';
  return 'connecting';
}

/** What goes with the status, in words: the URL, or why the stream is down. */
export function statusDetail(status: Status, error: JobFeedError | null, url: string, pollMs: number): string {
  if (status === 'polling') return `the stream is down; polling ${url} every ${pollMs / 1000}s`;
  if (status === 'offline') return `cannot reach ${url}${error ? `: ${error.message}` : ''}; still trying`;
  return url;
}

/**
 * The failure that ends a command, or null to keep trying. 401 and 403 stop the feed itself (retrying
 * would not change the answer), and so does a fault of the command's own; a 404 or a 400 before the server ever answered well means a wrong URL
 * or filter, while later they are a deploy in progress and are waited out.
 */
export function failureOf(error: JobFeedError, reached: boolean, notFound: (why: string) => string): Failure | null {
  if (error.code === 'unauthorized') {
    return {
      code: EXIT.notLoggedIn,
      message: `not logged in: ${error.message}. Pass credentials, e.g. --header 'Authorization: Bearer <token>'`,
    };
  }
  if (error.code === 'forbidden') return { code: EXIT.notAllowed, message: `not allowed: ${error.message}` };
  // The command's own code threw while handling a job: a bug, not something to wait out.
  if (error.code === 'callback') return { code: EXIT.software, message: `internal error: ${error.message}` };
  if (reached || error.code !== 'http') return null;
  if (error.status === 404) return { code: EXIT.notFound, message: notFound('404') };
  if (error.status === 400) {
    return { code: EXIT.usage, message: `the server refused the request (400): check the filters` };
  }
  return null;
}

/**
 * The content type of a stream route that answered 2xx with something else than an event stream (an
 * app's HTML page for any path), or null for any other error.
 */
export function notAStream(error: JobFeedError): string | null {
  if (error.code !== 'http' || error.status === undefined || error.status < 200 || error.status > 299) return null;
  const type = /answered (.*), not an event stream/.exec(error.message)?.[1] ?? 'something else';
  return type.split(';')[0]?.trim() || 'something else';
}

/**
 * `fetch` with the reason a request could not be made in its message: Node's says only "fetch failed"
 * and keeps "connect ECONNREFUSED 127.0.0.1:3000" in its `cause`. Aborts pass through as they are.
 */
const explainingFetch: typeof fetch = async (input, init) => {
  try {
    return await fetch(input, init);
  } catch (error) {
    if (init?.signal?.aborted) throw error;
    const cause = (error as { cause?: { code?: unknown; message?: unknown } }).cause;
    const reason = [cause?.message, cause?.code].find((text) => typeof text === 'string' && text !== '');
    throw reason ? new Error(reason as string, { cause: error }) : error;
  }
};

export interface FollowOptions {
  /** The job routes' URL. */
  url: string;
  headers: Array<[string, string]>;
  pollIntervalMs: number;
  /** What a 404 (`why`: '404'), or another answer than the routes', before the first good answer means, in words. */
  notFound(why: string): string;
  /** Every change of status, with the last error. */
  onStatus(status: Status, error: JobFeedError | null): void;
  /** The feed ran into something retrying will not fix. */
  onFailure(failure: Failure): void;
}

/** A feed with the command's view of it: its status, whether the server ever answered well, the last error. */
export interface Follower {
  feed: JobFeed;
  readonly status: Status;
  readonly reached: boolean;
  readonly error: JobFeedError | null;
  /** Closes the feed; nothing more is told after this (nor after a failure). */
  close(): void;
}

/** Opens the one feed a command follows, and tells it about status changes and failures. */
export function follow(options: FollowOptions): Follower {
  let status: Status = 'connecting';
  let reached = false;
  let error: JobFeedError | null = null;
  // What the stream route answered instead of a stream, before anything answered well.
  let answeredInstead: string | null = null;
  // Set by a failure or by close(): the feed may still announce the refusal it is stopping for.
  let stopped = false;
  const feed = createJobFeed({
    url: options.url,
    headers: options.headers,
    pollIntervalMs: options.pollIntervalMs,
    pauseWhenHidden: false,
    fetch: explainingFetch,
    onError(problem) {
      if (stopped) return;
      error = problem;
      let failure = failureOf(problem, reached, options.notFound);
      // The stream route answered a page, and then a poll failed too (the feed's poll errors say
      // "Polling …"; had one worked, the feed would be polling, `reached`): no job routes there. A
      // proxy that only misroutes the stream is polled through.
      if (!failure && !reached && answeredInstead !== null && problem.message.startsWith('Polling')) {
        failure = {
          code: EXIT.notFound,
          message: options.notFound(`it answered ${answeredInstead}, not an event stream`),
        };
      }
      if (!reached) answeredInstead ??= notAStream(problem);
      if (!failure) return;
      stopped = true;
      options.onFailure(failure);
    },
  });
  const update = () => {
    const next = statusOf(feed.state, feed.connection);
    if (next === 'live' || next === 'polling') reached = true;
    if (stopped || next === status) return;
    status = next;
    options.onStatus(status, error);
  };
  feed.onStateChange(update);
  feed.onConnectionChange(update);
  return {
    feed,
    get status() {
      return status;
    },
    get reached() {
      return reached;
    },
    get error() {
      return error;
    },
    close() {
      stopped = true;
      feed.close();
    },
  };
}

/**
 * Calls `then` with the jobs `feed` holds for `filter` now. A full snapshot makes the feed forget the
 * jobs it did not carry (gone from the server: a restart of a server that keeps jobs in memory), but
 * tells no subscriber; a new subscription is served what is held, in a microtask, so one is taken and
 * dropped right after. The command's own subscription keeps the connection meanwhile.
 */
export function heldJobs(feed: JobFeed, filter: JobFeedFilter, then: (jobs: Job[]) => void): void {
  const jobs: Job[] = [];
  const off = feed.subscribe(filter, (job) => jobs.push(job));
  queueMicrotask(() => {
    off();
    then(jobs);
  });
}
