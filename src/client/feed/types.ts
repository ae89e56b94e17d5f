import type { Job } from '../../protocol/job.js';
import type { JobFeedError } from './errors.js';
import type { JobFeedFilter } from './filter.js';

/**
 * Where a feed stands.
 * - `idle`: no subscription, no connection.
 * - `connecting`: opening a stream, or waiting to retry one, before any poll has answered.
 * - `streaming`: a stream is open and its snapshot (or replay) has arrived.
 * - `polling`: the stream is down; the list route is polled while the stream is retried.
 * - `paused`: the page is hidden; it catches up when shown.
 * - `denied`: the server answered 401 / 403 or sent `denied`; nothing is retried until {@link JobFeed.reconnect}.
 * - `closed`: {@link JobFeed.close} was called.
 */
export type JobFeedState = 'idle' | 'connecting' | 'streaming' | 'polling' | 'paused' | 'denied' | 'closed';

/**
 * Whether changes reach the page, and how.
 * - `live`: a stream is open and past `ready` (also the starting value: nothing has failed yet).
 * - `polling`: the stream is down, and polls of the list route reach the server.
 * - `offline`: neither streams nor polls reach the server (or the server refused the feed: `denied`).
 */
export type JobFeedConnection = 'live' | 'polling' | 'offline';

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
  /** Watches {@link JobFeed.connection}; returns the function that stops watching. */
  onConnectionChange(listener: (connection: JobFeedConnection) => void): () => void;
  /** Reconnects now: after `denied` (the user logged in again) or to skip a backoff wait. */
  reconnect(): void;
  /** Ends the connection and every subscription for good. */
  close(): void;
  readonly state: JobFeedState;
  /** Whether changes reach the page: `live`, `polling` or `offline`. */
  readonly connection: JobFeedConnection;
  /** The last problem, or null. */
  readonly error: JobFeedError | null;
}
