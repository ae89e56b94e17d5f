import type { Job } from '../../protocol/job.js';
import { STREAM_EVENT } from '../../protocol/wire.js';
import { JobFeedError } from './errors.js';
import type { NormalFilter } from './filter.js';
import { isJob } from './held-jobs.js';
import type { FeedSettings } from './options.js';
import { discard, networkError, refusal, send, streamUrl } from './requests.js';
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
 * Opens one stream for `filter` and reads it until it ends, fails, goes silent or `signal` aborts it.
 * Never throws: every way it can end is a {@link StreamEnd}.
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
  signal: AbortSignal,
  on: StreamListener,
): Promise<StreamEnd> {
  let response: Response;
  try {
    const resume = lastEventId === undefined ? undefined : (['last-event-id', lastEventId] as [string, string]);
    response = await send(settings, streamUrl(settings.root, filter), 'text/event-stream', signal, resume);
  } catch (error) {
    return { error: networkError('The job stream', error) };
  }
  const refused = await refusal(response);
  if (refused) return { error: refused, denied: true };
  const type = response.headers.get('content-type') ?? '';
  if (!response.ok || !response.body || !type.startsWith('text/event-stream')) {
    discard(response);
    const what = response.ok
      ? `answered ${type || 'no content type'}, not an event stream`
      : `answered ${response.status}`;
    return { error: new JobFeedError('http', `The job stream ${what}`, response.status) };
  }

  const reader = response.body.getReader();
  let end: StreamEnd | undefined;
  let ready = false;
  // Without a resume point the server sends a full snapshot; after `resync` too.
  let snapshot: Set<string> | null = lastEventId === undefined ? new Set() : null;
  const stop = (result: StreamEnd) => {
    end ??= result;
    reader.cancel().catch(() => {});
  };

  const onMessage = (event: SseMessage) => {
    if (end) return;
    const type = event.event;
    if (type === STREAM_EVENT.update) {
      let job: unknown;
      try {
        job = JSON.parse(event.data);
      } catch {
        // Reported below like any other malformed job.
      }
      if (!isJob(job)) return on.problem(new JobFeedError('protocol', 'The job stream sent a malformed job'));
      snapshot?.add(job.id);
      on.job(job, snapshot !== null);
      if (!snapshot && event.id) on.resumeFrom(event.id);
    } else if (type === STREAM_EVENT.resync) {
      // The server could not replay what was missed: the snapshot that follows is the truth.
      snapshot = new Set();
    } else if (type === STREAM_EVENT.ready) {
      const head = event.id || (parse(event.data) as { head?: unknown } | undefined)?.head;
      if (snapshot) {
        on.snapshot(snapshot);
        snapshot = null;
        on.resumeFrom(typeof head === 'string' && head ? head : undefined);
      } else if (typeof head === 'string' && head) {
        on.resumeFrom(head);
      }
      ready = true;
      on.ready();
    } else if (type === STREAM_EVENT.denied) {
      // The principal logged out or lost access: reconnecting as it is would only be refused.
      const reason = (parse(event.data) as { reason?: unknown } | undefined)?.reason;
      const error =
        reason === 'unauthorized'
          ? new JobFeedError('unauthorized', 'Logged out: log in again to see jobs')
          : new JobFeedError('forbidden', 'No longer allowed to see jobs');
      stop({ error, denied: true });
    }
  };
  const feed = createSseParser(onMessage, (ms) => on.retry(Math.max(ms, 1)), settings.maxEventSize);

  // A proxy or a sleeping laptop can drop a connection without a FIN: the heartbeat proves it alive.
  let watchdog: ReturnType<typeof setTimeout> | undefined;
  const rearm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(
      () => stop({ error: new JobFeedError('network', 'The job stream went silent') }),
      settings.heartbeatMs * SILENT_HEARTBEATS,
    );
  };
  const decoder = new TextDecoder();
  rearm();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || end || signal.aborted) break;
      rearm();
      if (!feed(decoder.decode(value, { stream: true }))) {
        stop({
          error: new JobFeedError('protocol', `The job stream sent an event over ${settings.maxEventSize} chars`),
        });
      }
    }
  } catch (error) {
    end ??= { error: networkError('The job stream', error) };
  } finally {
    clearTimeout(watchdog);
    reader.cancel().catch(() => {});
  }
  return end ?? { error: new JobFeedError('network', `The job stream ended${ready ? '' : ' before it was ready'}`) };
}

function parse(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return undefined;
  }
}
