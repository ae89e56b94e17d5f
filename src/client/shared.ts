import type { Job } from '../protocol/job.js';
import { DEFAULT_PREFIX } from '../protocol/wire.js';
import {
  createJobFeed,
  type JobFeed,
  type JobFeedConnection,
  type JobFeedFilter,
  type JobFeedOptions,
} from './feed/index.js';
import { DEFAULT_POLL_INTERVAL_MS } from './feed/options.js';
import { connectionNotice } from './notice.js';

/** Where the job routes live when the page says nothing else. */
export const DEFAULT_ENDPOINT = DEFAULT_PREFIX;

/**
 * Detail of the `job-feed-state` event dispatched on `document` whenever a shared feed's state or
 * connection changes.
 */
export interface JobFeedStateDetail {
  url: string;
  state: JobFeed['state'];
  connection: JobFeedConnection;
  error: JobFeed['error'];
}

interface Watch {
  filter: JobFeedFilter;
  callback: (job: Job) => void;
  off: () => void;
}

/** Told about the shared feed of a URL now and after every change of its state or connection. */
export type FeedWatcher = (feed: JobFeed, pollIntervalMs: number) => void;

interface Entry {
  feed: JobFeed;
  watches: Set<Watch>;
  watchers: Set<FeedWatcher>;
}

const entries = new Map<string, Entry>();
const settings = new Map<string, Omit<JobFeedOptions, 'url'>>();

/** The page's endpoint: `<meta name="realtime-jobs-endpoint" content="…">`, else `/api/admin/jobs`. */
export function pageEndpoint(): string {
  const meta = globalThis.document?.querySelector<HTMLMetaElement>('meta[name="realtime-jobs-endpoint"]');
  return meta?.content.trim() || DEFAULT_ENDPOINT;
}

function keyOf(url: string): string {
  return new URL(url, globalThis.location?.href).href.replace(/\/+$/, '');
}

const pollIntervalOf = (key: string) => settings.get(key)?.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;

/** Tells the page and the watchers that the feed of `key` changed; a feed already replaced says nothing. */
function announce(key: string, feed: JobFeed): void {
  const entry = entries.get(key);
  if (entry?.feed !== feed) return;
  const detail: JobFeedStateDetail = { url: key, state: feed.state, connection: feed.connection, error: feed.error };
  globalThis.document?.dispatchEvent(new CustomEvent('job-feed-state', { detail }));
  for (const watcher of entry.watchers) watcher(feed, pollIntervalOf(key));
}

function open(key: string): JobFeed {
  const feed = createJobFeed({
    ...settings.get(key),
    url: key,
    onStateChange(state) {
      settings.get(key)?.onStateChange?.(state);
      announce(key, feed);
    },
  });
  feed.onConnectionChange(() => announce(key, feed));
  return feed;
}

function entryFor(url: string): [string, Entry] {
  const key = keyOf(url);
  let entry = entries.get(key);
  if (!entry) {
    entry = { feed: open(key), watches: new Set(), watchers: new Set() };
    entries.set(key, entry);
  }
  return [key, entry];
}

/**
 * The one feed of this page for `url` (every tile and control on that endpoint shares it).
 *
 * @example
 * sharedJobFeed().onStateChange((state) => { if (state === 'denied') showLoginBanner(); });
 */
export function sharedJobFeed(url: string = pageEndpoint()): JobFeed {
  return entryFor(url)[1].feed;
}

/**
 * Sets the options of the shared feed for `url` (headers, poll interval, callbacks). Call it early, in
 * the same module that imports the element; called later, it reopens the feed and keeps every
 * subscription.
 *
 * @example
 * configureJobFeed('/api/admin/jobs', { headers: () => ({ 'x-csrf-token': token }), pollIntervalMs: 5000 });
 */
export function configureJobFeed(url: string, options: Omit<JobFeedOptions, 'url'>): void {
  const key = keyOf(url);
  settings.set(key, options);
  const entry = entries.get(key);
  if (!entry) return;
  const old = entry.feed;
  entry.feed = open(key);
  for (const watch of entry.watches) watch.off = entry.feed.subscribe(watch.filter, watch.callback);
  old.close();
  announce(key, entry.feed);
}

/**
 * How requests to the routes of `url` are made (the headers, credentials and fetch given to
 * {@link configureJobFeed}), so a view's own requests (a list page, an action) carry the same token.
 */
export function requestOptions(url: string): Pick<JobFeedOptions, 'headers' | 'credentials' | 'fetch'> {
  const { headers, credentials, fetch } = settings.get(keyOf(url)) ?? {};
  return { headers, credentials, fetch };
}

/** Subscribes through the shared feed of `url`; returns the function that ends the subscription. */
export function watchJobs(url: string, filter: JobFeedFilter, callback: (job: Job) => void): () => void {
  const [, entry] = entryFor(url);
  const watch: Watch = { filter, callback, off: entry.feed.subscribe(filter, callback) };
  entry.watches.add(watch);
  return () => {
    entry.watches.delete(watch);
    watch.off();
  };
}

/**
 * Follows the shared feed of `url` (its state and connection), now and whenever they change, also
 * across {@link configureJobFeed}; returns the function that stops following.
 */
export function watchFeed(url: string, watcher: FeedWatcher): () => void {
  const [key, entry] = entryFor(url);
  entry.watchers.add(watcher);
  watcher(entry.feed, pollIntervalOf(key));
  return () => entry.watchers.delete(watcher);
}

/**
 * What a view (`<job-status>`, `<job-list>`) follows of the shared feed of `url`: the jobs matching
 * `filter`, and the feed's connection with the words a view shows for it ({@link connectionNotice});
 * returns the function that stops both.
 */
export function followFeed(
  url: string,
  filter: JobFeedFilter,
  onJob: (job: Job) => void,
  onConnection: (connection: JobFeedConnection, notice: string) => void,
): () => void {
  const offJobs = watchJobs(url, filter, onJob);
  const offFeed = watchFeed(url, (feed, pollIntervalMs) =>
    onConnection(feed.connection, connectionNotice(feed, pollIntervalMs)),
  );
  return () => {
    offJobs();
    offFeed();
  };
}
