import { DEFAULT_HEARTBEAT_MS } from '../../protocol/wire.js';
import type { JobFeedError } from './errors.js';
import { invalid } from './errors.js';
import type { JobFeedState } from './types.js';

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
  /**
   * How often the list route is polled while the stream is down (whatever the cause); the first poll
   * comes at most this long after the stream failed.
   * @default 3000
   */
  pollIntervalMs?: number;
  /** The fetch to use (tests, a wrapped fetch). @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Sent with every request; `include` carries cookies to another origin too. @default 'include' */
  credentials?: RequestCredentials;
  /**
   * The server's heartbeat interval. With no byte for 2.5 times this long the stream is taken as
   * dead: the feed polls and reopens it.
   * @default 15000
   */
  heartbeatMs?: number;
  /** Longest wait between stream attempts. @default 30000 */
  maxRetryMs?: number;
  /** Largest event (or unterminated line) accepted, in characters; a bigger one drops the connection. @default 1048576 */
  maxEventSize?: number;
  /** Disconnect while `document.visibilityState` is `hidden`, and catch up when the page is shown. @default true */
  pauseWhenHidden?: boolean;
  /**
   * Share one stream among all tabs of this origin on the same `url` and `credentials` (a Web Lock
   * elects the tab that holds it; the others get its events over a BroadcastChannel). Where either API
   * is missing, or with `false`, each tab opens its own stream. With `headers` or `fetch` given, tabs
   * share only with `true`: every tab then gets what the leading tab's requests may see, so give
   * `true` only when every tab's headers are the same principal's (a CSRF header, not a per-tab token).
   * @default true without `headers` and `fetch`, else false
   */
  shareAcrossTabs?: boolean;
  /**
   * Called with every problem. `unauthorized` and `forbidden` mean the feed stopped.
   * @default none
   * @example (error) => { if (error.code === 'unauthorized') location.assign('/login'); }
   */
  onError?: (error: JobFeedError) => void;
  /** Called whenever {@link JobFeed.state} changes. @default none */
  onStateChange?: (state: JobFeedState) => void;
}

export const DEFAULT_POLL_INTERVAL_MS = 3000;

/** The options, checked and with their defaults: what the feed's parts read. */
export interface FeedSettings {
  /** The routes' prefix, absolute, without query or trailing slash. */
  root: string;
  headers: JobFeedOptions['headers'];
  credentials: RequestCredentials;
  fetch: typeof fetch;
  pollIntervalMs: number;
  heartbeatMs: number;
  maxRetryMs: number;
  maxEventSize: number;
  /** Share one stream among the tabs (`shareAcrossTabs`). */
  share: boolean;
  /** The document whose visibility pauses the feed, or undefined (Node, `pauseWhenHidden: false`). */
  document: Document | undefined;
}

/** Checks every option, naming the one at fault (`invalid_input`). */
export function readFeedOptions(options: JobFeedOptions): FeedSettings {
  if (typeof options !== 'object' || options === null) invalid('options', 'must be an object with a `url`');
  const positive = (field: keyof JobFeedOptions, fallback: number): number => {
    const value = options[field] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) invalid(field, 'must be a positive number');
    return value;
  };
  const fetchFn = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (typeof fetchFn !== 'function') invalid('fetch', 'must be a function');
  for (const field of ['onError', 'onStateChange'] as const) {
    if (options[field] !== undefined && typeof options[field] !== 'function') invalid(field, 'must be a function');
  }
  const { headers } = options;
  if (headers !== undefined && (typeof headers !== 'object' || headers === null) && typeof headers !== 'function') {
    invalid('headers', 'must be an object, a Headers, or a function returning one');
  }
  const credentials = options.credentials ?? 'include';
  if (!['include', 'same-origin', 'omit'].includes(credentials)) {
    invalid('credentials', 'must be "include", "same-origin" or "omit"');
  }
  for (const field of ['pauseWhenHidden', 'shareAcrossTabs'] as const) {
    if (options[field] !== undefined && typeof options[field] !== 'boolean') invalid(field, 'must be true or false');
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
  return {
    root: base.href.replace(/\/+$/, ''),
    headers,
    credentials,
    fetch: fetchFn,
    pollIntervalMs: positive('pollIntervalMs', DEFAULT_POLL_INTERVAL_MS),
    heartbeatMs: positive('heartbeatMs', DEFAULT_HEARTBEAT_MS),
    maxRetryMs: positive('maxRetryMs', 30_000),
    maxEventSize: positive('maxEventSize', 1 << 20),
    // Every tab's requests must be the same principal's: another tab's `headers` (a per-tab token) or
    // `fetch` may see more than this one, so sharing with either is the page's explicit choice.
    share: options.shareAcrossTabs ?? (headers === undefined && options.fetch === undefined),
    document: options.pauseWhenHidden === false ? undefined : globalThis.document,
  };
}
