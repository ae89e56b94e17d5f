// One class of about 350 lines on purpose: the snapshot or replay, the live queue, backpressure and
// eviction all serve one rule, that a client holds everything up to the last id it saw and ids on the
// wire only increase, and each part is written against the others' state. The throttle in front of
// it (throttle.ts) and the frame format (sse.ts) stand apart.

import { errorMessage } from '../protocol/errors.js';
import type { Job, LogLine } from '../protocol/job.js';
import { comparePositions, type EventId, LIST_LIMIT, parseEventId, STREAM_EVENT } from '../protocol/wire.js';
import { compileFilter, type JobFilter } from './filter.js';
import type { JobRegistry } from './registry.js';
import { encodeSseMessage } from './sse.js';
import type { JobEvent } from './store.js';
import type { SubscribeEvents } from './throttle.js';

/**
 * Where a stream writes: a Node response, a web `ReadableStream` controller, anything with these two
 * methods. `write` returns false when the reader is behind; the owner then calls `resume()` once it
 * has caught up (Node's `drain`, a stream's `pull`).
 */
export interface StreamSink {
  write(chunk: Uint8Array): boolean;
  end(): void;
}

export interface StreamOptions {
  filter: JobFilter;
  /** The client's `Last-Event-ID`, or undefined. */
  lastEventId: string | undefined;
  retryMs: number;
  /** Bytes of live changes a stalled reader may have waiting before it is disconnected. */
  maxBufferedBytes: number;
  /** A reader that takes nothing for this long while data waits for it is disconnected. */
  stallTimeoutMs: number;
  /** How many jobs a snapshot sends at most. */
  snapshotLimit: number;
  /** Send `job-log` events too (a detail view): live lines, a snapshot's kept lines, replayed lines. @default false */
  logs?: boolean;
  /** Where live events come from. @default the registry's own `subscribe` */
  subscribe?: SubscribeEvents;
  /**
   * End the stream when the registry closes. An endpoint turns this off and ends all its streams from
   * one registry listener instead of one per stream.
   * @default true
   */
  closeWithRegistry?: boolean;
  /** Where a failure to start (a store that cannot replay) is reported. */
  onError?: (error: Error) => void;
  /** Told when a resuming client gets `resync` and a fresh snapshot instead of a replay, and why. */
  onResync?: (reason: string) => void;
}

/** Why a stream closed. */
export type StreamCloseReason = 'evicted' | 'registry-closed' | 'server-closed' | 'client-closed' | 'denied';

/** Frames are encoded once per event and shared by every connection that sends them. */
const frames = new WeakMap<JobEvent, Uint8Array>();

export function encodeJobEvent(event: JobEvent): Uint8Array {
  let frame = frames.get(event);
  if (!frame) {
    frame = event.log
      ? encodeSseMessage({ id: event.id, event: STREAM_EVENT.log, data: logData(event.job.id, [event.log]) })
      : encodeSseMessage({ id: event.id, event: STREAM_EVENT.update, data: JSON.stringify(event.job) });
    frames.set(event, frame);
  }
  return frame;
}

/**
 * A snapshot's frame of a job (no id), shared the same way: jobs are frozen snapshots, so thousands of
 * streams opening on the same jobs encode each job once (a Redis store hands out fresh objects and
 * simply misses). The entry lives as long as that version of the job.
 */
const snapshotFrames = new WeakMap<Job, Uint8Array>();

function encodeSnapshotJob(job: Job): Uint8Array {
  let frame = snapshotFrames.get(job);
  if (!frame) {
    frame = encodeSseMessage({ event: STREAM_EVENT.update, data: JSON.stringify(job) });
    if (Object.isFrozen(job)) snapshotFrames.set(job, frame);
  }
  return frame;
}

/** The last `ready` and `retry` frames, reused while streams open at the same head with the same options. */
let lastReady: { head: string; frame: Uint8Array } | null = null;
let lastRetry: { ms: number; frame: Uint8Array } | null = null;

function encodeReady(head: string): Uint8Array {
  if (lastReady?.head !== head) {
    lastReady = {
      head,
      frame: encodeSseMessage({ id: head, event: STREAM_EVENT.ready, data: JSON.stringify({ head }) }),
    };
  }
  return lastReady.frame;
}

function encodeRetry(ms: number): Uint8Array {
  if (lastRetry?.ms !== ms) lastRetry = { ms, frame: encodeSseMessage({ retry: ms }) };
  return lastRetry.frame;
}

function logData(jobId: string, lines: readonly LogLine[]): string {
  return JSON.stringify({ jobId, lines });
}

interface Pending {
  frame: Uint8Array;
  job: Job | null;
  dropped: boolean;
}

/**
 * One SSE connection: a snapshot or a replay, `ready`, then live events in order.
 *
 * The resume rule: a client's `Last-Event-ID` is always a position up to which it holds everything.
 * Replayed and live events carry their own ids; snapshot frames carry none, and `ready` carries the
 * snapshot's head. A client cut off in the middle of a snapshot still holds the id it had before, so
 * its next connection starts over and ends exact.
 *
 * The snapshot or replay is written as fast as the reader takes it (a large one is never evicted for
 * its size); live events that arrive meanwhile wait behind it. While the reader is behind, a newer
 * snapshot of a job replaces a waiting one in the same state (progress, message), but a change of
 * state is never dropped. A reader with more than `maxBufferedBytes` of live changes waiting once the
 * event loop has turned, or one that takes nothing for `stallTimeoutMs`, is disconnected; it resumes
 * from its last event id when it reconnects.
 */
export class JobStream {
  readonly #registry: JobRegistry;
  readonly #options: StreamOptions;
  #sink: StreamSink | null = null;
  /** The snapshot or replay still to write; null once `ready` is out. */
  #initial: Iterator<Uint8Array> | null = null;
  /** Live events that arrived before the snapshot's or replay's head was known. */
  #early: JobEvent[] | null = null;
  /** Live events at or before this position are covered by the snapshot or replay. */
  #covered: EventId | null = null;
  #pastCovered = false;
  // The queue and its index exist only while the reader is behind: most streams never need them.
  #queue: Pending[] = [];
  /** The newest queued entry of each job, so a superseded one can be dropped in O(1). */
  #queuedByJob: Map<string, Pending> | null = null;
  #queuedBytes = 0;
  #blocked = false;
  #evictionCheck = false;
  #stallTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  #closeReason: StreamCloseReason | null = null;
  /** The live subscription; released first on close. */
  #unsubscribe: (() => void) | null = null;
  #cleanups: Array<() => void> | null = null;

  constructor(registry: JobRegistry, options: StreamOptions) {
    this.#registry = registry;
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Why the stream closed, once it has. */
  get closeReason(): StreamCloseReason | null {
    return this.#closeReason;
  }

  /** Registers a cleanup that runs once when the stream closes. */
  onClose(cleanup: () => void): void {
    if (this.#closed) {
      cleanup();
      return;
    }
    // A literal, not push() onto []: most streams hold one cleanup, and push would reserve 17 slots.
    if (this.#cleanups) this.#cleanups.push(cleanup);
    else this.#cleanups = [cleanup];
  }

  /**
   * Starts sending into `sink`. Subscribes before taking the snapshot or asking for the replay, so no
   * event can fall between them. A replay may take a round trip to the store; anything that fails then
   * closes the stream (the client resumes) and is reported to `onError`.
   */
  start(sink: StreamSink): void {
    if (this.#sink) throw new Error('JobStream.start() called twice');
    this.#sink = sink;
    if (this.#closed) {
      // Closed before it started (the client left while the route was deciding): nothing to send.
      try {
        sink.end();
      } catch {
        // Already gone.
      }
      return;
    }
    if (this.#registry.closed) {
      this.close('registry-closed');
      return;
    }
    const { filter, lastEventId } = this.#options;
    const subscribe = this.#options.subscribe ?? ((f, listener, opts) => this.#registry.subscribe(f, listener, opts));
    this.#unsubscribe = subscribe(filter, (event) => this.#onLive(event), { logs: this.#options.logs === true });
    if (this.#options.closeWithRegistry !== false) {
      this.onClose(this.#registry.onClose(() => this.close('registry-closed')));
    }
    this.#write(encodeRetry(this.#options.retryMs));
    if (lastEventId === undefined) {
      this.#begin(this.#snapshot(null));
      return;
    }
    this.#early = [];
    this.#registry.eventsSince(lastEventId).then(
      (replay) => {
        if (this.#closed) return;
        this.#begin(
          replay.kind === 'replay' ? this.#replay(replay.events, replay.head) : this.#snapshot(replay.reason),
        );
      },
      (error) => {
        this.#options.onError?.(new Error(`a stream could not replay: ${errorMessage(error)}`, { cause: error }));
        this.close('server-closed');
      },
    );
  }

  /** Sends a shared heartbeat frame; skipped while the reader is behind (it has data waiting anyway). */
  heartbeat(frame: Uint8Array): void {
    if (!this.#blocked && !this.#closed) this.#write(frame);
  }

  /** The reader caught up: write what waited. */
  resume(): void {
    if (this.#closed || !this.#sink) return;
    this.#setBlocked(false);
    this.#pump();
  }

  /**
   * Ends the stream and releases every listener and timer it holds. Safe to call more than once.
   * `lastFrame` (a `denied` event) is written just before the end, even to a reader that is behind:
   * what waited for it is dropped.
   */
  close(reason: StreamCloseReason = 'server-closed', lastFrame?: Uint8Array): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#closeReason = reason;
    this.#initial = null;
    this.#early = null;
    this.#queue = [];
    this.#queuedByJob = null;
    this.#queuedBytes = 0;
    if (this.#stallTimer) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    const cleanups = this.#cleanups ?? [];
    this.#cleanups = null;
    for (const cleanup of cleanups) {
      try {
        cleanup();
      } catch {
        // A cleanup that throws must not keep the others from running.
      }
    }
    try {
      if (lastFrame) this.#sink?.write(lastFrame);
      this.#sink?.end();
    } catch {
      // The connection is already gone.
    }
  }

  /** The snapshot's frames: newest jobs first, no ids, then `ready` with the head they reflect. */
  *#snapshot(resyncReason: string | null): Generator<Uint8Array> {
    // Head and jobs are taken in the same tick: the jobs reflect exactly the events up to the head.
    const head = this.#registry.head();
    const jobs = this.#registry.list({
      ...this.#options.filter,
      limit: Math.min(this.#options.snapshotLimit, LIST_LIMIT.max),
    });
    // The kept lines are taken with the jobs: the lines up to the head, no more.
    const logs = this.#options.logs === true ? jobs.map((job) => this.#registry.logs(job.id)) : [];

    this.#cover(head);
    if (resyncReason !== null) {
      this.#options.onResync?.(resyncReason);
      yield encodeSseMessage({ event: STREAM_EVENT.resync, data: JSON.stringify({ reason: resyncReason }) });
    }
    for (const [i, job] of jobs.entries()) {
      yield encodeSnapshotJob(job);
      const lines = logs[i] ?? [];
      if (lines.length > 0) yield encodeSseMessage({ event: STREAM_EVENT.log, data: logData(job.id, lines) });
    }
    yield encodeReady(head);
  }

  /** The replay's frames: each missed event with its own id, then `ready` at the position reached. */
  *#replay(events: readonly JobEvent[], head: string): Generator<Uint8Array> {
    this.#cover(head);
    const matches = compileFilter(this.#options.filter);
    const logs = this.#options.logs === true;
    for (const event of events) if (matches(event.job) && (logs || !event.log)) yield encodeJobEvent(event);
    yield encodeReady(head);
  }

  #begin(initial: Generator<Uint8Array>): void {
    // Running the generator to its first frame fixes the head before any early event is judged.
    const first = initial.next();
    this.#initial = first.done ? null : prepend(first.value, initial);
    const early = this.#early ?? [];
    this.#early = null;
    for (const event of early) this.#onLive(event);
    this.#pump();
  }

  #cover(head: string): void {
    this.#covered = parseEventId(head);
  }

  #onLive(event: JobEvent): void {
    if (this.#closed) return;
    if (this.#early) {
      this.#early.push(event);
      return;
    }
    // A throttled source may still deliver events the snapshot or replay already covers: skip those,
    // so ids on the wire only increase. Live events arrive in id order, so once one is past the head
    // every later one is too, and no id needs parsing any more (this runs once per stream per event).
    if (!this.#pastCovered) {
      const position = parseEventId(event.id);
      const covered = this.#covered;
      this.#pastCovered =
        !covered || !position || position.epoch !== covered.epoch || comparePositions(position, covered) > 0;
      if (!this.#pastCovered) return;
    }
    // A log line is never superseded by a later event: it is queued as is, not coalesced.
    this.#send(encodeJobEvent(event), event.log ? null : event.job);
  }

  /** Writes the snapshot or replay, then what waited, until the reader is behind. */
  #pump(): void {
    while (this.#initial && !this.#blocked && !this.#closed) {
      const next = this.#initial.next();
      if (next.done) this.#initial = null;
      else this.#write(next.value);
    }
    if (this.#initial || this.#closed) return;
    let sent = 0;
    while (sent < this.#queue.length && !this.#blocked && !this.#closed) {
      const entry = this.#queue[sent++] as Pending;
      if (entry.dropped) continue;
      this.#queuedBytes -= entry.frame.byteLength;
      if (entry.job && this.#queuedByJob?.get(entry.job.id) === entry) this.#queuedByJob.delete(entry.job.id);
      this.#write(entry.frame);
    }
    this.#queue.splice(0, sent);
  }

  #send(frame: Uint8Array, job: Job | null): void {
    if (this.#closed) return;
    if (!this.#blocked && !this.#initial && this.#queue.length === 0) {
      this.#write(frame);
      return;
    }
    if (job) {
      const previous = this.#queuedByJob?.get(job.id);
      if (previous?.job && previous.job.state === job.state) {
        // Superseded: same state, older snapshot. Dropping it keeps ids increasing (the new entry
        // goes to the end) and a resume from any later id still covers this job.
        previous.dropped = true;
        this.#queuedBytes -= previous.frame.byteLength;
      }
    }
    const entry: Pending = { frame, job, dropped: false };
    this.#queue.push(entry);
    if (job) {
      this.#queuedByJob ??= new Map();
      this.#queuedByJob.set(job.id, entry);
    }
    this.#queuedBytes += frame.byteLength;
    if (this.#queuedBytes > this.#options.maxBufferedBytes) this.#checkEviction();
  }

  /**
   * A burst bigger than the limit within one tick (many jobs changing at once) queues up even for a
   * fast reader: Node reports a socket as full until the end of the tick. Only a reader still over the
   * limit once the event loop has turned is stuck.
   */
  #checkEviction(): void {
    if (this.#evictionCheck) return;
    this.#evictionCheck = true;
    setTimeout(() => {
      this.#evictionCheck = false;
      if (this.#blocked && this.#queuedBytes > this.#options.maxBufferedBytes) this.close('evicted');
    }, 0);
  }

  #setBlocked(blocked: boolean): void {
    if (blocked === this.#blocked) return;
    this.#blocked = blocked;
    if (this.#stallTimer) clearTimeout(this.#stallTimer);
    this.#stallTimer = null;
    if (blocked) {
      this.#stallTimer = setTimeout(() => this.close('evicted'), this.#options.stallTimeoutMs);
      (this.#stallTimer as { unref?: () => void }).unref?.();
    }
  }

  #write(frame: Uint8Array): void {
    try {
      if (this.#sink?.write(frame) === false) this.#setBlocked(true);
    } catch {
      // Writing to a connection that is already gone: it is over.
      this.close('client-closed');
    }
  }
}

/** `first`, then the rest of `rest`. */
function* prepend<T>(first: T, rest: Iterator<T>): Generator<T> {
  yield first;
  for (let next = rest.next(); !next.done; next = rest.next()) yield next.value;
}
