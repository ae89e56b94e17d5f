import type { Job } from '../../protocol/job.js';
import { STREAM_EVENT } from '../../protocol/wire.js';
import { JobFeedError } from './errors.js';
import type { NormalFilter } from './filter.js';
import { isJob } from './held-jobs.js';
import type { FeedSettings } from './options.js';
import { networkError, refusal, send, streamUrl } from './requests.js';
import { createSseParser, type SseMessage } from './sse-parser.js';

/** How one stream ended: always a failure to hold it; `denied` when the server refused the feed. */
export interface StreamEnd {
  error: JobFeedError;
  denied?: boolean;
}

/** What a stream tells the feed while it runs. */
export interface StreamListener {
  /** A job arrived; `fromSnapshot` when it belongs to a full snapshot (see {@link HeldJobs.apply}). */
  job(job: Job, fromSnapshot: boolean): void;
  /** A full snapshot ended: it carried these jobs and no others matching the connection's filter. */
  snapshot(carried: ReadonlySet<string>): void;
  /** The id to resume from changed (undefined: start from a snapshot next time). */
  resumeFrom(id: string | undefined): void;
  /** `ready`: the snapshot or replay is complete; live changes follow. */
  ready(): void;
  /** The server's `retry:`. */
  retry(ms: number): void;
  /** A problem that does not end the stream (a malformed job). */
  problem(error: JobFeedError): void;
}

/** How long a stream may stay silent, in heartbeats, before it is taken as dead. */
const SILENT_HEARTBEATS = 2.5;

/**
 * Opens one stream for `filter` and reads it until it ends, fails or goes silent, or `abort` is
 * aborted. Never throws: every way it can end is a {@link StreamEnd}. It aborts `abort` itself when
 * it gives up on the stream (silence, a refusal, an oversized event), which lets go of the connection;
 * the caller tells a stream it dropped on purpose by `abort` no longer being its current one.
 *
 * Resume is exact because ids are only trusted where they are exact. A replay's events carry their
 * own ids, each one safe to resume from. A snapshot's frames carry none (and any they carry is
 * ignored): only `ready`, with the snapshot's head, is, so a connection cut mid-snapshot keeps the
 * previous resume point and the next connection starts over.
 */
export async function readJobStream(
  settings: FeedSettings,
  filter: NormalFilter,
  lastEventId: string | undefined,
  abort: AbortController,
  on: StreamListener,
): Promise<StreamEnd> {
  let end: StreamEnd | undefined;
  const stop = (result: StreamEnd) => {
    end ??= result;
    abort.abort();
  };
  // No byte for this long, from the request on: a proxy or a sleeping laptop dropped the connection
  // without a FIN (or holds the request unanswered). The heartbeat is what proves a stream alive.
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const rearm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(
      () => stop({ error: new JobFeedError('network', 'The job stream went silent') }),
      settings.heartbeatMs * SILENT_HEARTBEATS,
    );
  };
  rearm();
  try {
    const resume = lastEventId === undefined ? undefined : (['last-event-id', lastEventId] as [string, string]);
    const response = await send(settings, streamUrl(settings.root, filter), 'text/event-stream', abort.signal, resume);
    const refused = await refusal(response);
    if (refused) return { error: refused, denied: true };
    const type = response.headers.get('content-type') ?? '';
    if (!response.ok || !response.body || !type.startsWith('text/event-stream')) {
      const what = response.ok ? `${type || 'no content type'}, not an event stream` : response.status;
      return { error: new JobFeedError('http', `The job stream answered ${what}`, response.status) };
    }
    const feed = createSseParser(
      readMessages(on, lastEventId !== undefined, abort.signal, stop),
      (ms) => on.retry(Math.max(ms, 1)),
      settings.maxEventSize,
    );
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { done, value } = await reader.read();
      if (done || end) break;
      rearm();
      if (!feed(decoder.decode(value, { stream: true }))) {
        stop({
          error: new JobFeedError('protocol', `The job stream sent an event over ${settings.maxEventSize} chars`),
        });
      }
    }
    return end ?? { error: new JobFeedError('network', 'The job stream ended') };
  } catch (error) {
    return end ?? { error: networkError('The job stream', error) };
  } finally {
    clearTimeout(watchdog);
    // Lets go of the connection, however the stream ended.
    abort.abort();
  }
}

/**
 * Handles one stream's messages: the snapshot (or replay), `ready`, then live changes. `resuming`:
 * the request carried a `Last-Event-ID`, so a replay comes unless the server says `resync`.
 */
function readMessages(
  on: StreamListener,
  resuming: boolean,
  signal: AbortSignal,
  stop: (end: StreamEnd) => void,
): (message: SseMessage) => void {
  /** The ids a full snapshot carried so far; null while replaying or live. */
  let snapshot: Set<string> | null = resuming ? null : new Set();
  return (message) => {
    // Dropped (by the feed, or by `stop`) mid-chunk: the rest of the chunk means nothing any more.
    if (signal.aborted) return;
    const type = message.event;
    if (type === STREAM_EVENT.update) {
      const job = parse(message.data);
      if (!isJob(job)) return on.problem(new JobFeedError('protocol', 'The job stream sent a malformed job'));
      snapshot?.add(job.id);
      on.job(job, snapshot !== null);
      if (!snapshot && message.id) on.resumeFrom(message.id);
    } else if (type === STREAM_EVENT.resync) {
      // The server could not replay what was missed: the snapshot that follows is the truth.
      snapshot = new Set();
    } else if (type === STREAM_EVENT.ready) {
      const head = message.id || (parse(message.data) as { head?: unknown } | undefined)?.head;
      const exact = typeof head === 'string' && head !== '' ? head : undefined;
      if (snapshot) {
        on.snapshot(snapshot);
        snapshot = null;
        // No head: the next connection takes a snapshot again rather than resume from a stale id.
        on.resumeFrom(exact);
      } else if (exact) {
        on.resumeFrom(exact);
      }
      on.ready();
    } else if (type === STREAM_EVENT.denied) {
      // The principal logged out or lost access: reconnecting as it is would only be refused.
      const reason = (parse(message.data) as { reason?: unknown } | undefined)?.reason;
      stop({
        denied: true,
        error:
          reason === 'unauthorized'
            ? new JobFeedError('unauthorized', 'Logged out: log in again to see jobs')
            : new JobFeedError('forbidden', 'No longer allowed to see jobs'),
      });
    }
  };
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}
