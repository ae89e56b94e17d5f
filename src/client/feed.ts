import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { JobsError } from '../protocol/errors.js';
import type { Job } from '../protocol/job.js';

/**
 * Which jobs a subscription wants. Values of one field OR; different fields AND; an absent field
 * matches everything (the same rules as the HTTP routes' query parameters).
 *
 * @example
 * feed.subscribe({ category: 'sync-push', target: { peer: 'peer-a' } }, (job) => render(job));
 */
export interface JobFeedFilter {
  /** One job id or several. */
  jobId?: string | readonly string[];
  /** One category or several, e.g. `sync-push`. */
  category?: string | readonly string[];
  /** Target fields and the values to match, e.g. `{ peer: 'peer-a' }`. */
  target?: Readonly<Record<string, string | readonly string[]>>;
}

/**
 * Where a feed stands.
 * - `idle`: no subscription, no connection.
 * - `connecting`: opening a stream, or waiting to retry one.
 * - `streaming`: a stream is open and its snapshot (or replay) has arrived.
 * - `polling`: the stream could not be held; the list route is polled instead.
 * - `paused`: the page is hidden; it catches up when shown.
 * - `denied`: the server answered 401 or 403; nothing is retried until {@link JobFeed.reconnect}.
 * - `closed`: {@link JobFeed.close} was called.
 */
export type JobFeedState = 'idle' | 'connecting' | 'streaming' | 'polling' | 'paused' | 'denied' | 'closed';

/** A problem the feed ran into. `unauthorized` / `forbidden` stop it; the others are retried. */
export class JobFeedError extends Error {
  override readonly name = 'JobFeedError';
  constructor(
    /** What went wrong. */
    readonly code: 'unauthorized' | 'forbidden' | 'http' | 'network' | 'protocol' | 'callback',
    message: string,
    /** The HTTP status, when there was one. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/** Options of {@link createJobFeed}. */
export interface JobFeedOptions {
  /**
   * The job routes' prefix: the stream is `{url}/events`, the list `{url}`. Relative URLs resolve
   * against the page; in Node give an absolute one.
   * @example '/api/admin/jobs'
   */
  url: string;
  /**
   * Extra request headers (a token, a CSRF header). A function is called before every connection and
   * poll, so a refreshed token is picked up.
   * @default none
   * @example () => ({ authorization: `Bearer ${getToken()}` })
   */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>);
  /** How often the list route is polled while the stream cannot be held. @default 3000 */
  pollIntervalMs?: number;
  /** The fetch to use (tests, a wrapped fetch). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Sent with every request; `include` carries cookies to another origin too. @default 'include' */
  credentials?: RequestCredentials;
  /**
   * The server's heartbeat interval. With no byte for 2.5 times this long the connection is taken as
   * dead and reopened.
   * @default 15000
   */
  heartbeatMs?: number;
  /** Longest wait between reconnection attempts. @default 30000 */
  maxRetryMs?: number;
  /** Largest event (or unterminated line) accepted, in characters; a bigger one drops the connection. @default 1048576 */
  maxEventSize?: number;
  /** Disconnect while `document.visibilityState` is `hidden`, and catch up when the page is shown. @default true */
  pauseWhenHidden?: boolean;
  /**
   * Called with every problem. `unauthorized` and `forbidden` mean the feed stopped.
   * @default none
   * @example (error) => { if (error.code === 'unauthorized') location.assign('/login'); }
   */
  onError?: (error: JobFeedError) => void;
  /** Called whenever {@link JobFeed.state} changes. @default none */
  onStateChange?: (state: JobFeedState) => void;
}

/** A live view of the jobs behind one endpoint, shared by every subscriber. */
export interface JobFeed {
  /**
   * Calls `callback` with every job that matches `filter`: first those already held, then each newer
   * version as it arrives. Returns the function that ends the subscription.
   * @throws {JobsError} `invalid_input` naming the bad filter field.
   */
  subscribe(filter: JobFeedFilter, callback: (job: Job) => void): () => void;
  /** Watches {@link JobFeed.state}; returns the function that stops watching. */
  onStateChange(listener: (state: JobFeedState) => void): () => void;
  /** Reconnects now: after `denied` (the user logged in again) or to skip a backoff wait. */
  reconnect(): void;
  /** Ends the connection and every subscription for good. */
  close(): void;
  readonly state: JobFeedState;
  /** The last problem, or null. */
  readonly error: JobFeedError | null;
}

/** A filter as the feed works with it: `null` means "any". */
interface Normal {
  jobId: string[] | null;
  category: string[] | null;
  target: Record<string, string[]>;
}

interface Subscription {
  filter: Normal;
  callback: (job: Job) => void;
}

const JOB_ID = /^[A-Za-z0-9_-]{1,64}$/;
const NAME = /^[A-Za-z0-9._:-]{1,100}$/;
/** Stream failures in a row (an HTTP error, not an event stream, closed before `ready`) before polling. */
const FAILURES_BEFORE_POLLING = 2;
/** While polling, try the stream again every this many polls. */
const POLLS_BETWEEN_STREAM_TRIES = 10;
/** The server caps a snapshot at 100 jobs; a poll asks for as many. */
const POLL_LIMIT = 100;
const MAX_HELD_JOBS = 2000;

function invalid(field: string, why: string): never {
  throw new JobsError('invalid_input', `createJobFeed: \`${field}\` ${why}`, { field });
}

function list(value: unknown, field: string, pattern: RegExp | null): string[] | null {
  if (value === undefined) return null;
  const values = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(values)) invalid(field, 'must be a string or an array of strings');
  for (const item of values) {
    if (typeof item !== 'string' || (pattern ? !pattern.test(item) : item.length > 256)) {
      invalid(field, `holds ${JSON.stringify(item)}, which is not valid here`);
    }
  }
  return values.length > 0 ? [...new Set(values as string[])] : null;
}

function normalize(filter: JobFeedFilter): Normal {
  if (typeof filter !== 'object' || filter === null) invalid('filter', 'must be an object');
  const target: Record<string, string[]> = {};
  if (filter.target !== undefined) {
    if (typeof filter.target !== 'object' || filter.target === null) invalid('filter.target', 'must be an object');
    for (const [field, value] of Object.entries(filter.target)) {
      if (!NAME.test(field)) invalid(`filter.target.${field}`, 'is not a valid target field');
      const values = list(value, `filter.target.${field}`, null);
      if (values) target[field] = values;
    }
  }
  return {
    jobId: list(filter.jobId, 'filter.jobId', JOB_ID),
    category: list(filter.category, 'filter.category', NAME),
    target,
  };
}

function matches(filter: Normal, job: Job): boolean {
  return (
    (!filter.jobId || filter.jobId.includes(job.id)) &&
    (!filter.category || filter.category.includes(job.category)) &&
    Object.entries(filter.target).every(([field, values]) => values.includes(job.target?.[field] as string))
  );
}

/** The smallest filter the routes can express that covers every subscription. */
function union(filters: Normal[]): Normal {
  const merge = (pick: (filter: Normal) => string[] | null | undefined): string[] | null => {
    const all = new Set<string>();
    for (const filter of filters) {
      const values = pick(filter);
      if (!values) return null;
      for (const value of values) all.add(value);
    }
    return [...all];
  };
  const target: Record<string, string[]> = {};
  for (const field of Object.keys(filters[0]?.target ?? {})) {
    const values = merge((filter) => filter.target[field]);
    if (values) target[field] = values;
  }
  const jobId = merge((filter) => filter.jobId);
  return { jobId: jobId && jobId.length <= 100 ? jobId : null, category: merge((filter) => filter.category), target };
}

/** Whether everything `inner` matches, `outer` matches too. */
function covers(outer: Normal, inner: Normal): boolean {
  const within = (a: string[] | null | undefined, b: string[] | null | undefined) =>
    !a || (!!b && b.every((value) => a.includes(value)));
  return (
    within(outer.jobId, inner.jobId) &&
    within(outer.category, inner.category) &&
    Object.entries(outer.target).every(([field, values]) => within(values, inner.target[field]))
  );
}

function query(filter: Normal): URLSearchParams {
  const params = new URLSearchParams();
  for (const id of filter.jobId ?? []) params.append('job_id', id);
  for (const category of filter.category ?? []) params.append('category', category);
  for (const [field, values] of Object.entries(filter.target)) {
    for (const value of values) params.append(`target.${field}`, value);
  }
  return params;
}

function isJob(value: unknown): value is Job {
  const job = value as Job;
  return (
    typeof job === 'object' &&
    job !== null &&
    typeof job.id === 'string' &&
    typeof job.state === 'string' &&
    typeof job.category === 'string' &&
    Number.isSafeInteger(job.version)
  );
}

/**
 * Opens one live connection to the job routes and shares it among any number of subscriptions. It
 * streams over `fetch` (cookies included), resumes with `Last-Event-ID`, backs off with jitter,
 * polls the list route when a stream cannot be held, pauses while the page is hidden, and stops on
 * 401 / 403. Works in browsers and in Node.
 *
 * @example
 * const feed = createJobFeed({ url: '/api/admin/jobs' });
 * const off = feed.subscribe({ category: 'sync-push' }, (job) => console.log(job.state, job.progress));
 */
export function createJobFeed(options: JobFeedOptions): JobFeed {
  if (typeof options !== 'object' || options === null) invalid('options', 'must be an object with a `url`');
  const positive = (field: keyof JobFeedOptions, fallback: number): number => {
    const value = options[field] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) invalid(field, 'must be a positive number');
    return value;
  };
  const pollIntervalMs = positive('pollIntervalMs', 3000);
  const heartbeatMs = positive('heartbeatMs', 15_000);
  const maxRetryMs = positive('maxRetryMs', 30_000);
  const maxEventSize = positive('maxEventSize', 1 << 20);
  const fetchFn = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (typeof fetchFn !== 'function') invalid('fetch', 'must be a function');
  for (const field of ['onError', 'onStateChange'] as const) {
    if (options[field] !== undefined && typeof options[field] !== 'function') invalid(field, 'must be a function');
  }
  let base: URL;
  try {
    if (typeof options.url !== 'string' || options.url === '') throw new Error();
    base = new URL(options.url, globalThis.location?.href);
  } catch {
    invalid('url', 'must be the job routes URL, e.g. "/api/admin/jobs" (absolute in Node)');
  }
  base.search = '';
  base.hash = '';
  const root = base.href.replace(/\/+$/, '');
  const credentials = options.credentials ?? 'include';
  const doc = options.pauseWhenHidden === false ? undefined : globalThis.document;

  const held = new Map<string, Job>();
  const subscriptions = new Set<Subscription>();
  const stateListeners = new Set<(state: JobFeedState) => void>();
  let state: JobFeedState = 'idle';
  let lastError: JobFeedError | null = null;
  /** The filter of the current connection: what `lastEventId` and `etag` belong to. */
  let connected: Normal | null = null;
  let lastEventId: string | undefined;
  let etag: string | undefined;
  let retryMs = 3000;
  let failures = 0;
  let streamFailures = 0;
  let polling = false;
  let polls = 0;
  /** Bumped whenever a connection is dropped on purpose, so its late callbacks do nothing. */
  let generation = 0;
  let controller: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let reconcileQueued = false;

  const setState = (next: JobFeedState) => {
    if (next === state) return;
    state = next;
    options.onStateChange?.(next);
    for (const listener of stateListeners) listener(next);
  };
  const report = (error: JobFeedError) => {
    lastError = error;
    options.onError?.(error);
  };
  const hidden = () => doc?.visibilityState === 'hidden';
  const active = () => subscriptions.size > 0 && state !== 'closed' && state !== 'denied';

  function stop(): void {
    generation++;
    controller?.abort();
    controller = null;
    clearTimeout(timer);
  }

  function later(ms: number): void {
    clearTimeout(timer);
    timer = setTimeout(start, ms);
  }

  function start(): void {
    if (!active()) return;
    stop();
    if (hidden()) {
      setState('paused');
      return;
    }
    connected = union([...subscriptions].map((subscription) => subscription.filter));
    if (polling) void poll(generation);
    else void stream(generation);
  }

  /** Applies one job; `force` (a resync snapshot) accepts it even when its version is not newer. */
  function apply(job: Job, force = false): void {
    const previous = held.get(job.id);
    if (previous && (force ? previous.version === job.version : job.version <= previous.version)) return;
    held.delete(job.id);
    held.set(job.id, job);
    if (held.size > MAX_HELD_JOBS) held.delete(held.keys().next().value as string);
    for (const subscription of subscriptions) {
      if (!matches(subscription.filter, job)) continue;
      try {
        subscription.callback(job);
      } catch (error) {
        report(new JobFeedError('callback', `A subscriber threw: ${(error as Error)?.message}`));
      }
    }
  }

  async function headers(accept: string): Promise<Headers> {
    const extra = typeof options.headers === 'function' ? await options.headers() : options.headers;
    const result = new Headers(extra);
    result.set('accept', accept);
    return result;
  }

  /** A 401 / 403 stops the feed: retrying would not change the answer. */
  async function deny(response: Response): Promise<void> {
    let message = response.status === 401 ? 'Not logged in' : 'Not allowed to see jobs';
    try {
      message = (await response.json()).error.message || message;
    } catch {
      // The body is not the routes' error JSON; keep the default words.
    }
    stop();
    setState('denied');
    report(new JobFeedError(response.status === 401 ? 'unauthorized' : 'forbidden', message, response.status));
  }

  /** Schedules the next attempt; `broken` says the stream itself could not be held there. */
  function retry(broken: boolean, error: JobFeedError): void {
    report(error);
    failures++;
    if (broken && ++streamFailures >= FAILURES_BEFORE_POLLING) {
      polling = true;
      polls = 0;
      setState('polling');
      later(0);
      return;
    }
    // Exponential from the server's `retry:`, plus up to 50% jitter so a restarted server is not hit
    // by every page at once.
    let delay = Math.min(maxRetryMs, retryMs * 2 ** (failures - 1)) * (1 + Math.random() / 2);
    if (broken) delay = Math.min(delay, pollIntervalMs);
    setState('connecting');
    later(delay);
  }

  async function stream(run: number): Promise<void> {
    setState('connecting');
    const abort = new AbortController();
    controller = abort;
    const filter = connected as Normal;
    const search = query(filter).toString();
    let response: Response;
    try {
      const requestHeaders = await headers('text/event-stream');
      if (lastEventId !== undefined) requestHeaders.set('last-event-id', lastEventId);
      if (run !== generation) return;
      response = await fetchFn(`${root}/events${search ? `?${search}` : ''}`, {
        headers: requestHeaders,
        credentials,
        cache: 'no-store',
        signal: abort.signal,
      });
    } catch (error) {
      if (run === generation)
        retry(false, new JobFeedError('network', `The job stream failed: ${(error as Error).message}`));
      return;
    }
    if (run !== generation) return void response.body?.cancel().catch(() => {});
    if (response.status === 401 || response.status === 403) return deny(response);
    const type = response.headers.get('content-type') ?? '';
    if (!response.ok || !response.body || !type.startsWith('text/event-stream')) {
      void response.body?.cancel().catch(() => {});
      const what = response.ok
        ? `answered ${type || 'no content type'}, not an event stream`
        : `answered ${response.status}`;
      return retry(true, new JobFeedError('http', `The job stream ${what}`, response.status));
    }

    let ready = false;
    let resync: Set<string> | null = null;
    let problem: JobFeedError | null = null;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    const drop = (error: JobFeedError) => {
      problem = error;
      abort.abort();
    };
    const bark = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => drop(new JobFeedError('network', 'The job stream went silent')), heartbeatMs * 2.5);
    };
    const onEvent = (event: EventSourceMessage) => {
      if (event.id !== undefined) lastEventId = event.id || undefined;
      if (event.event === 'job-update') {
        let job: unknown;
        try {
          job = JSON.parse(event.data);
        } catch {
          // Reported below like any other malformed job.
        }
        if (!isJob(job)) return report(new JobFeedError('protocol', 'The job stream sent a malformed job'));
        resync?.add(job.id);
        apply(job, resync !== null);
      } else if (event.event === 'resync') {
        // The server could not replay what was missed: the snapshot that follows is the truth.
        resync = new Set();
      } else if (event.event === 'ready') {
        if (resync) {
          for (const [id, job] of held) if (!resync.has(id) && matches(filter, job)) held.delete(id);
          resync = null;
        }
        ready = true;
        failures = 0;
        streamFailures = 0;
        setState('streaming');
      }
    };
    const parser = createParser({
      onEvent,
      onRetry: (ms) => {
        retryMs = Math.max(ms, 1);
      },
      onError: (error) => {
        if (error.type === 'max-buffer-size-exceeded') {
          drop(new JobFeedError('protocol', `The job stream sent an event over ${maxEventSize} chars`));
        }
      },
      maxBufferSize: maxEventSize,
    });
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    bark();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || run !== generation || problem) break;
        bark();
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } catch (error) {
      problem ??= new JobFeedError('network', `The job stream failed: ${(error as Error).message}`);
    } finally {
      clearTimeout(watchdog);
      reader.cancel().catch(() => {});
    }
    if (run !== generation) return;
    controller = null;
    retry(!ready, problem ?? new JobFeedError('network', 'The job stream ended'));
  }

  async function poll(run: number): Promise<void> {
    const abort = new AbortController();
    controller = abort;
    const params = query(connected as Normal);
    params.set('limit', String(POLL_LIMIT));
    try {
      const requestHeaders = await headers('application/json');
      if (etag) requestHeaders.set('if-none-match', etag);
      if (run !== generation) return;
      const response = await fetchFn(`${root}?${params}`, {
        headers: requestHeaders,
        credentials,
        cache: 'no-store',
        signal: abort.signal,
      });
      if (run !== generation) return;
      if (response.status === 401 || response.status === 403) return deny(response);
      if (response.ok) {
        const body = (await response.json()) as { jobs?: unknown };
        if (!Array.isArray(body?.jobs)) throw new Error('no `jobs` in the answer');
        etag = response.headers.get('etag') ?? undefined;
        for (const job of body.jobs.reverse()) if (isJob(job)) apply(job);
      } else if (response.status !== 304) {
        report(new JobFeedError('http', `Polling answered ${response.status}`, response.status));
      }
      setState('polling');
    } catch (error) {
      if (run !== generation) return;
      report(new JobFeedError('network', `Polling failed: ${(error as Error).message}`));
    }
    if (run !== generation) return;
    controller = null;
    if (++polls % POLLS_BETWEEN_STREAM_TRIES === 0) {
      // Try the stream again; one more failure sends the feed straight back to polling.
      polling = false;
      streamFailures = FAILURES_BEFORE_POLLING - 1;
    }
    later(pollIntervalMs);
  }

  /** Runs once per batch of subscription changes: a page adding 20 tiles at once reconnects once. */
  function reconcile(): void {
    reconcileQueued = false;
    if (!active()) return;
    const wanted = union([...subscriptions].map((subscription) => subscription.filter));
    if (connected && covers(connected, wanted) && state !== 'idle') return;
    // A replay only covers the old filter: a wider one needs a fresh snapshot.
    if (connected && !covers(connected, wanted)) {
      lastEventId = undefined;
      etag = undefined;
    }
    start();
  }

  const onVisibility = () => {
    if (!active()) return;
    if (hidden()) {
      stop();
      setState('paused');
    } else if (state === 'paused') {
      start();
    }
  };
  doc?.addEventListener?.('visibilitychange', onVisibility);

  return {
    subscribe(filter, callback) {
      if (state === 'closed') throw new JobsError('closed', 'createJobFeed: this feed is closed');
      if (typeof callback !== 'function') invalid('callback', 'must be a function');
      const subscription: Subscription = { filter: normalize(filter), callback };
      subscriptions.add(subscription);
      const known = [...held.values()].filter((job) => matches(subscription.filter, job));
      queueMicrotask(() => {
        for (const job of known) {
          if (subscriptions.has(subscription) && held.get(job.id) === job) callback(job);
        }
      });
      if (!reconcileQueued) {
        reconcileQueued = true;
        queueMicrotask(reconcile);
      }
      return () => {
        if (!subscriptions.delete(subscription) || subscriptions.size > 0) return;
        if (state === 'closed' || state === 'denied') return;
        stop();
        // The next subscription may want more than this connection carried: start from a snapshot.
        connected = null;
        lastEventId = undefined;
        etag = undefined;
        setState('idle');
      };
    },
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    reconnect() {
      if (state === 'closed') return;
      if (state === 'denied') state = 'idle';
      failures = 0;
      streamFailures = 0;
      polling = false;
      start();
    },
    close() {
      stop();
      subscriptions.clear();
      doc?.removeEventListener?.('visibilitychange', onVisibility);
      setState('closed');
    },
    get state() {
      return state;
    },
    get error() {
      return lastError;
    },
  };
}
