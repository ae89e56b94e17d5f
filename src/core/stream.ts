import type { Job } from '../protocol/job.js';
import { parseEventId } from '../protocol/wire.js';
import type { JobFilter } from './filter.js';
import { compileFilter } from './filter.js';
import type { JobEvent, JobRegistry } from './registry.js';
import { encodeSseMessage } from './sse.js';
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
  /** Bytes a stalled reader may have waiting before it is disconnected. */
  maxBufferedBytes: number;
  /** How many jobs a snapshot sends at most. */
  snapshotLimit: number;
  /** Where live events come from. @default the registry's own `subscribe` */
  subscribe?: SubscribeEvents;
  /**
   * End the stream when the registry closes. An endpoint turns this off and ends all its streams from
   * one registry listener instead of one per stream.
   * @default true
   */
  closeWithRegistry?: boolean;
}

/** Frames are encoded once per event and shared by every connection that sends them. */
const frames = new WeakMap<JobEvent, Uint8Array>();

export function encodeJobEvent(event: JobEvent): Uint8Array {
  let frame = frames.get(event);
  if (!frame) {
    frame = encodeSseMessage({ id: event.id, event: 'job-update', data: JSON.stringify(event.job) });
    frames.set(event, frame);
  }
  return frame;
}

interface Pending {
  frame: Uint8Array;
  job: Job | null;
  dropped: boolean;
}

/**
 * One SSE connection: snapshot or replay, then live events in order. While its reader is behind,
 * events wait in a queue where a newer snapshot of a job replaces an older one in the same state
 * (progress, message), but a change of state is never dropped. Past `maxBufferedBytes` the reader is
 * disconnected; it resumes from its last event id when it reconnects.
 */
export class JobStream {
  readonly #registry: JobRegistry;
  readonly #options: StreamOptions;
  #sink: StreamSink | null = null;
  // The queue and its index exist only while the reader is behind: most streams never need them.
  #queue: Pending[] = [];
  /** The newest queued entry of each job, so a superseded one can be dropped in O(1). */
  #queuedByJob: Map<string, Pending> | null = null;
  #queuedBytes = 0;
  #blocked = false;
  #evictionCheck = false;
  #closed = false;
  /** The live subscription; released first on close. */
  #unsubscribe: (() => void) | null = null;
  #cleanups: Array<() => void> | null = null;
  /** Why the stream closed, when the server closed it. */
  closeReason: 'evicted' | 'registry-closed' | 'server-closed' | 'client-closed' | 'denied' | null = null;

  constructor(registry: JobRegistry, options: StreamOptions) {
    this.#registry = registry;
    this.#options = options;
  }

  get closed(): boolean {
    return this.#closed;
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
   * Starts sending into `sink`. Subscribes and takes the snapshot in the same tick, so no event can
   * fall between them.
   */
  start(sink: StreamSink): void {
    if (this.#sink) throw new Error('JobStream.start() called twice');
    this.#sink = sink;
    const { filter, lastEventId, retryMs, snapshotLimit } = this.#options;
    if (this.#registry.closed) {
      this.close('registry-closed');
      return;
    }
    const matches = compileFilter(filter);
    const head = this.#registry.head();
    // A throttled source may still hold events the snapshot or replay already covers: skip those, so
    // ids on the wire only increase. Live events arrive in id order, so once one is past the head,
    // every later one is too and no id needs parsing any more (this runs once per stream per event).
    const covered = parseEventId(head)?.major ?? 0;
    let pastHead = false;
    const subscribe = this.#options.subscribe ?? ((f, listener) => this.#registry.subscribe(f, listener));
    this.#unsubscribe = subscribe(filter, (event) => {
      pastHead ||= (parseEventId(event.id)?.major ?? Number.POSITIVE_INFINITY) > covered;
      if (pastHead) this.#send(encodeJobEvent(event), event.job);
    });
    if (this.#options.closeWithRegistry !== false) {
      this.onClose(this.#registry.onClose(() => this.close('registry-closed')));
    }

    this.#send(encodeSseMessage({ retry: retryMs }), null);
    const replay = lastEventId ? this.#registry.eventsSince(lastEventId) : null;
    if (replay?.kind === 'replay') {
      for (const event of replay.events) {
        if (matches(event.job)) this.#send(encodeJobEvent(event), event.job);
      }
    } else {
      if (replay)
        this.#send(encodeSseMessage({ event: 'resync', data: JSON.stringify({ reason: replay.reason }) }), null);
      // Each snapshot event carries the current head id: resuming from it misses nothing.
      for (const job of this.#registry.list({ ...filter, limit: Math.min(snapshotLimit, 500) })) {
        this.#send(encodeSseMessage({ id: head, event: 'job-update', data: JSON.stringify(job) }), job);
      }
    }
    this.#send(encodeSseMessage({ event: 'ready', data: JSON.stringify({ head }) }), null);
  }

  /** Sends a shared heartbeat frame; skipped while the reader is behind (it has data waiting anyway). */
  heartbeat(frame: Uint8Array): void {
    if (!this.#blocked) this.#send(frame, null);
  }

  /** The reader caught up: write what waited. */
  resume(): void {
    if (this.#closed || !this.#sink) return;
    this.#blocked = false;
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

  /**
   * Ends the stream and releases every listener and timer it holds. Safe to call more than once.
   * `lastFrame` (a `denied` event) is written just before the end, even to a reader that is behind:
   * what waited for it is dropped.
   */
  close(reason: NonNullable<JobStream['closeReason']> = 'server-closed', lastFrame?: Uint8Array): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeReason = reason;
    this.#queue = [];
    this.#queuedByJob = null;
    this.#queuedBytes = 0;
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

  #send(frame: Uint8Array, job: Job | null): void {
    if (this.#closed) return;
    if (!this.#blocked) {
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
   * A burst bigger than the limit within one tick (a large snapshot or replay, many jobs changing at
   * once) queues up even for a fast reader: Node reports a socket as full until the end of the tick.
   * Only a reader still over the limit once the event loop has turned is stuck.
   */
  #checkEviction(): void {
    if (this.#evictionCheck) return;
    this.#evictionCheck = true;
    setImmediate(() => {
      this.#evictionCheck = false;
      if (this.#blocked && this.#queuedBytes > this.#options.maxBufferedBytes) this.close('evicted');
    });
  }

  #write(frame: Uint8Array): boolean {
    try {
      if (this.#sink?.write(frame) === false) this.#blocked = true;
    } catch {
      // Writing to a connection that is already gone: it is over.
      this.close('client-closed');
      return false;
    }
    return !this.#blocked;
  }
}
