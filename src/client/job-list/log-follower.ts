import type { Job } from '../../protocol/job.js';
import { STREAM_EVENT } from '../../protocol/wire.js';
import { backoffDelay } from '../feed/backoff.js';
import { isJob } from '../feed/held-jobs.js';
import { readFeedOptions } from '../feed/options.js';
import { discard, refusal, send } from '../feed/requests.js';
import { createSseParser, type SseMessage } from '../feed/sse-parser.js';
import { requestOptions } from '../shared.js';

/** Where a followed log stands: lines arrive (`live`), the stream is being retried, or the server refused it. */
export type LogFollowState = 'live' | 'reconnecting' | 'stopped';

/** What a log follower reports. */
export interface LogListener {
  /** Log lines as the stream sent them: a snapshot's kept lines, then one per new line (may repeat after a reconnect). */
  lines(lines: unknown[]): void;
  /** The job, whenever it changes. */
  job(job: Job): void;
  state(state: LogFollowState): void;
}

const parse = (data: string): unknown => {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
};

/**
 * Follows one job's log lines for an open detail: `GET {url}/events?logs=1&job_id={id}` sends the kept
 * lines at once, then each new line and each change of the job. It runs beside the page's shared feed
 * (which carries no lines, and stays within the tile bundle's budget), with the feed's parts: its
 * requests (the headers and credentials of `configureJobFeed`), its SSE parser and its backoff. A
 * dropped or silent stream is retried from its last event id (`Last-Event-ID`); a refusal (401, 403,
 * `denied`) stops it. Returns the function that stops it.
 */
export function followJobLog(url: string, jobId: string, on: LogListener): () => void {
  const settings = readFeedOptions({ ...requestOptions(url), url });
  const streamUrl = `${settings.root}/events?logs=1&job_id=${encodeURIComponent(jobId)}`;
  let stopped = false;
  let abort: AbortController | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let lastEventId: string | undefined;
  let retryMs = 3000;
  let failures = 0;

  const message = ({ event, data, id }: SseMessage, refuse: () => void) => {
    const value = parse(data) as { jobId?: unknown; lines?: unknown; head?: unknown; reason?: unknown } | undefined;
    if (event === STREAM_EVENT.log && value?.jobId === jobId && Array.isArray(value.lines)) on.lines(value.lines);
    else if (event === STREAM_EVENT.update && isJob(value) && value.id === jobId) on.job(value);
    else if (event === STREAM_EVENT.ready) {
      failures = 0;
      on.state('live');
      const head = id || value?.head;
      if (typeof head === 'string' && head) lastEventId = head;
      return;
    } else if (event === STREAM_EVENT.denied) return refuse();
    // A replay's and live events carry ids to resume from; a snapshot's carry none.
    if (id) lastEventId = id;
  };

  async function connect(): Promise<void> {
    const current = new AbortController();
    abort = current;
    let refused = false;
    let watchdog: ReturnType<typeof setTimeout> | undefined;
    // No byte for 2.5 heartbeats: the connection is gone without a word (a proxy, a sleeping laptop).
    const rearm = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => current.abort(), settings.heartbeatMs * 2.5);
    };
    rearm();
    try {
      const resume = lastEventId === undefined ? undefined : (['last-event-id', lastEventId] as [string, string]);
      const response = await send(settings, streamUrl, 'text/event-stream', current.signal, resume);
      refused = (await refusal(response)) !== null;
      if (refused || !response.ok || !response.body) {
        discard(response);
        return;
      }
      const feed = createSseParser(
        (each) =>
          message(each, () => {
            refused = true;
            current.abort();
          }),
        (ms) => {
          retryMs = Math.max(ms, 1);
        },
        settings.maxEventSize,
      );
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done || current.signal.aborted) break;
        rearm();
        if (!feed(decoder.decode(value, { stream: true }))) break;
      }
    } catch {
      // Dropped: retried below.
    } finally {
      clearTimeout(watchdog);
      current.abort();
      if (!stopped && abort === current) {
        on.state(refused ? 'stopped' : 'reconnecting');
        if (!refused) timer = setTimeout(connect, backoffDelay(++failures, retryMs, settings.maxRetryMs));
      }
    }
  }

  void connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    abort?.abort();
  };
}
