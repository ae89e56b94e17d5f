import type { Job } from '../../protocol/job.js';
import { DEFAULT_RETRY_MS } from '../../protocol/wire.js';
import { backoffDelay } from './backoff.js';
import type { JobFeedError } from './errors.js';
import { coversFilter, type NormalFilter } from './filter.js';
import type { FeedSettings } from './options.js';
import { pollJobs } from './poll.js';
import { readJobStream, type StreamEnd } from './stream.js';
import type { JobFeedConnection, JobFeedState } from './types.js';

/** What the machine tells the feed around it. */
export interface MachineListener {
  state(state: JobFeedState): void;
  connection(connection: JobFeedConnection): void;
  error(error: JobFeedError): void;
  /** A job from a stream or a poll; `fromSnapshot` when a full snapshot carried it. */
  job(job: Job, fromSnapshot: boolean): void;
  /** A full snapshot for `filter` carried these jobs and no others. */
  snapshot(filter: NormalFilter, carried: ReadonlySet<string>): void;
  /** The resume point moved: `id` is exact for the current filter (undefined: a snapshot next time). */
  resumeFrom?(id: string | undefined): void;
}

/**
 * What the feed is doing at the top level. Only `running` has work going on: a stream, or a stream
 * being retried while the list route is polled.
 */
type Mode = 'idle' | 'running' | 'paused' | 'denied' | 'closed';

/**
 * The feed's connection, as one state machine.
 *
 * While `running` it holds a stream open. Whenever a stream fails (the request fails, the answer is
 * not a stream, it ends, it goes silent) two things run side by side until a stream reaches `ready`:
 * stream attempts, spaced by {@link backoffDelay}, and polls of the list route every
 * `pollIntervalMs`, the first one at most one interval after the failure. A refusal (401 / 403 from
 * either, or the stream's `denied` event) stops both until {@link FeedMachine.reconnect}.
 *
 * `state` and `connection` are derived from what is going on and are announced when they change.
 */
export class FeedMachine {
  readonly #settings: FeedSettings;
  readonly #on: MachineListener;
  #mode: Mode = 'idle';
  #state: JobFeedState = 'idle';
  #connection: JobFeedConnection = 'live';
  /** What the current connection asks for; the resume point and the ETag belong to it. */
  #filter: NormalFilter | null = null;
  #lastEventId: string | undefined;
  #etag: string | undefined;
  /** The server's `retry:`: the first wait after a stream failed. */
  #retryMs = DEFAULT_RETRY_MS;
  /** Stream attempts failed since a stream last reached `ready`. */
  #failures = 0;
  /** True from a stream failure until a stream reaches `ready`. */
  #polling = false;
  /** A poll has come back since polling began: from then on the state says `polling`. */
  #polled = false;
  #stream: AbortController | null = null;
  #poll: AbortController | null = null;
  #streamTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(settings: FeedSettings, on: MachineListener) {
    this.#settings = settings;
    this.#on = on;
  }

  get state(): JobFeedState {
    return this.#state;
  }

  get connection(): JobFeedConnection {
    return this.#connection;
  }

  /** The filter of the current connection, or null when idle. */
  get filter(): NormalFilter | null {
    return this.#filter;
  }

  /**
   * Connects for `filter` now, replacing any connection. A filter the current one does not cover
   * starts from a snapshot: a replay would only cover the old filter.
   */
  run(filter: NormalFilter): void {
    if (this.#mode === 'closed' || this.#mode === 'denied') return;
    if (!this.#filter || !coversFilter(this.#filter, filter)) {
      this.#lastEventId = undefined;
      this.#etag = undefined;
    }
    this.#filter = filter;
    this.#mode = 'running';
    this.#start();
  }

  /**
   * Takes over the resume point another tab's stream reached for `filter` (see shareTabs): the next
   * {@link FeedMachine.run} for a filter it covers resumes from `lastEventId`.
   */
  seed(filter: NormalFilter | null, lastEventId: string | undefined): void {
    this.#filter = filter;
    this.#lastEventId = lastEventId;
    this.#etag = undefined;
  }

  /** No subscription left: disconnects, and the next connection starts from a snapshot. */
  idle(): void {
    if (this.#mode === 'closed' || this.#mode === 'denied') return;
    this.#halt();
    this.#stopPolling();
    this.#mode = 'idle';
    this.#filter = null;
    this.#lastEventId = undefined;
    this.#etag = undefined;
    this.#failures = 0;
    this.#setState('idle');
  }

  /** The page was hidden: lets go of the connection and keeps the resume point. */
  pause(): void {
    if (this.#mode !== 'running') return;
    this.#halt();
    this.#mode = 'paused';
    this.#setState('paused');
  }

  /** The page is shown again: reconnects and catches up (and polls at once if the stream was down). */
  resume(): void {
    if (this.#mode !== 'paused') return;
    this.#mode = 'running';
    this.#start();
  }

  /** Skips the backoff wait, or leaves `denied` (the user logged in again); `filter` null: nothing to watch. */
  reconnect(filter: NormalFilter | null): void {
    if (this.#mode === 'closed') return;
    this.#failures = 0;
    if (this.#mode === 'denied') this.#mode = 'idle';
    if (filter) this.run(filter);
    else this.idle();
  }

  close(): void {
    this.#halt();
    this.#mode = 'closed';
    this.#setState('closed');
  }

  #start(): void {
    if (this.#settings.document?.visibilityState === 'hidden') {
      this.#halt();
      this.#mode = 'paused';
      this.#setState('paused');
      return;
    }
    this.#openStream();
    if (this.#polling) this.#pollNow();
  }

  /** Stops whatever runs: requests, retries, polls. What was learnt (resume point, failures) stays. */
  #halt(): void {
    clearTimeout(this.#streamTimer);
    clearTimeout(this.#pollTimer);
    this.#stream?.abort();
    this.#poll?.abort();
    this.#stream = this.#poll = null;
  }

  #openStream(): void {
    clearTimeout(this.#streamTimer);
    this.#stream?.abort();
    const abort = new AbortController();
    this.#stream = abort;
    const filter = this.#filter as NormalFilter;
    this.#showProgress();
    // The reader says nothing once `abort` is aborted; its end counts only while it is still the
    // current stream (not one dropped on purpose since).
    void readJobStream(this.#settings, filter, this.#lastEventId, abort, {
      job: (job, fromSnapshot) => this.#on.job(job, fromSnapshot),
      snapshot: (carried) => this.#on.snapshot(filter, carried),
      resumeFrom: (id) => {
        this.#lastEventId = id;
        this.#on.resumeFrom?.(id);
      },
      ready: () => this.#streamReady(),
      retry: (ms) => {
        this.#retryMs = ms;
      },
      problem: (error) => this.#on.error(error),
    }).then((end) => {
      if (this.#stream === abort) this.#streamEnded(end);
    });
  }

  #streamReady(): void {
    this.#failures = 0;
    this.#stopPolling();
    this.#setState('streaming');
    this.#setConnection('live');
  }

  #streamEnded(end: StreamEnd): void {
    this.#stream = null;
    if (end.denied) {
      this.#deny(end.error);
      return;
    }
    this.#on.error(end.error);
    this.#failures++;
    const delay = backoffDelay(this.#failures, this.#retryMs, this.#settings.maxRetryMs);
    this.#streamTimer = setTimeout(() => this.#openStream(), delay);
    if (!this.#polling) {
      this.#polling = true;
      this.#schedulePoll();
    }
    this.#showProgress();
  }

  #schedulePoll(): void {
    clearTimeout(this.#pollTimer);
    this.#pollTimer = setTimeout(() => this.#pollNow(), this.#settings.pollIntervalMs);
  }

  #pollNow(): void {
    clearTimeout(this.#pollTimer);
    this.#poll?.abort();
    const abort = new AbortController();
    this.#poll = abort;
    void pollJobs(this.#settings, this.#filter as NormalFilter, this.#etag, abort.signal, (job) =>
      this.#on.job(job, false),
    ).then((result) => {
      if (this.#poll !== abort) return;
      this.#poll = null;
      if (result.denied && result.error) return this.#deny(result.error);
      this.#polled = true;
      if (result.error) this.#on.error(result.error);
      else this.#etag = result.etag;
      this.#setConnection(result.error ? 'offline' : 'polling');
      this.#showProgress();
      this.#schedulePoll();
    });
  }

  /** The stream holds again (or there is nothing to poll for): polling ends. */
  #stopPolling(): void {
    this.#polling = this.#polled = false;
    clearTimeout(this.#pollTimer);
    this.#poll?.abort();
    this.#poll = null;
  }

  /** The server refused the feed: retrying as it is would be refused again. */
  #deny(error: JobFeedError): void {
    this.#halt();
    this.#stopPolling();
    this.#mode = 'denied';
    this.#on.error(error);
    this.#setConnection('offline');
    this.#setState('denied');
  }

  /** Without a live stream: `polling` once a poll came back since the stream went down, `connecting` before. */
  #showProgress(): void {
    this.#setState(this.#polled ? 'polling' : 'connecting');
  }

  #setState(state: JobFeedState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#on.state(state);
  }

  #setConnection(connection: JobFeedConnection): void {
    if (connection === this.#connection) return;
    this.#connection = connection;
    this.#on.connection(connection);
  }
}
