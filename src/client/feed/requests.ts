import { filterToQuery } from '../../protocol/query.js';
import { SNAPSHOT_LIMIT } from '../../protocol/wire.js';
import { JobFeedError } from './errors.js';
import type { NormalFilter } from './filter.js';
import type { FeedSettings } from './options.js';

/** The stream route for `filter`: `{root}/events?…`. */
export function streamUrl(root: string, filter: NormalFilter): string {
  const query = filterToQuery(filter).toString();
  return `${root}/events${query ? `?${query}` : ''}`;
}

/** The list route for `filter`, asking for as many jobs as a stream's snapshot carries. */
export function listUrl(root: string, filter: NormalFilter): string {
  const query = filterToQuery(filter);
  query.set('limit', String(SNAPSHOT_LIMIT));
  return `${root}?${query}`;
}

/**
 * One request to the routes, with the page's extra headers (a function is asked anew every time, so a
 * refreshed token is used) and `cache: 'no-store'`: an answer about jobs is stale at once.
 */
export async function send(
  settings: FeedSettings,
  url: string,
  accept: string,
  signal: AbortSignal,
  extra?: [name: string, value: string],
): Promise<Response> {
  const option = settings.headers;
  const headers = new Headers(typeof option === 'function' ? await option() : option);
  headers.set('accept', accept);
  if (extra) headers.set(...extra);
  return settings.fetch(url, { headers, credentials: settings.credentials, cache: 'no-store', signal });
}

/** Lets go of an answer's body that will not be read, so the connection can be reused or closed. */
export function discard(response: Response): void {
  response.body?.cancel().catch(() => {});
}

/**
 * The error that stops the feed when the server refuses it (401 / 403): retrying would not change the
 * answer. Null for any other answer. The message is the routes' own when the body is their error JSON.
 */
export async function refusal(response: Response): Promise<JobFeedError | null> {
  const { status } = response;
  if (status !== 401 && status !== 403) return null;
  let message = status === 401 ? 'Not logged in' : 'Not allowed to see jobs';
  try {
    message = (await response.json()).error.message || message;
  } catch {
    // The body is not the routes' error JSON; keep the default words.
  }
  return new JobFeedError(status === 401 ? 'unauthorized' : 'forbidden', message, status);
}

/** A `network` error for a request that failed before (or while) an answer arrived. */
export function networkError(what: string, error: unknown): JobFeedError {
  return new JobFeedError('network', `${what} failed: ${(error as Error)?.message ?? error}`);
}
