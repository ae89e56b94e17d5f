import {
  type CreateResult,
  idempotencyKey,
  type JobEvent,
  needsRunner,
  RESYNC_REASON,
  type Replay,
  type StoreContext,
  type WriteOptions,
  type WriteResult,
} from '../core/store.js';
import { isBusy, type Job, type LogLine } from '../protocol/job.js';
import { comparePositions, parseEventId } from '../protocol/wire.js';
import { createEventIdSequence, type EventIdSequence } from './event-ids.js';
import { ReplayBuffer } from './replay-buffer.js';

/** A concurrency slot a job was created in, and its place in the slot's queue. */
interface Slot {
  name: string;
  limit: number;
  order: number;
}

/**
 * The state of a single-process store (memory, JSONL): every job, their logs, the busy jobs'
 * idempotency keys and concurrency slots, event ids and the replay buffer. It is the whole store for
 * `memoryStore()`; `jsonlStore()` adds a log file that records each change.
 */
export class LocalState {
  /** The newest snapshot of every job. */
  readonly jobs = new Map<string, Job>();
  /** The kept log lines of each job, oldest first. */
  readonly logs = new Map<string, LogLine[]>();
  /** Busy jobs by idempotency key. */
  readonly #keys = new Map<string, string>();
  /** The slot of each job created in one, while it is queued or running. */
  readonly #slots = new Map<string, Slot>();
  readonly #replay: ReplayBuffer;
  /** Queue places in concurrency slots: creation order, even within one millisecond. */
  #order = 0;
  #ids: EventIdSequence | null = null;
  #context: StoreContext | null = null;

  constructor(replayBufferSize: number) {
    this.#replay = new ReplayBuffer(replayBufferSize);
  }

  /** Starts a new epoch over what the storage held and says which busy jobs lost their runner. */
  open(
    context: StoreContext,
    jobs: Iterable<Job>,
    logs: Iterable<LogLine & { jobId: string }> = [],
  ): { head: string; orphans: Job[] } {
    this.#context = context;
    this.#ids = createEventIdSequence();
    this.#replay.clear();
    this.jobs.clear();
    this.logs.clear();
    this.#keys.clear();
    this.#slots.clear();
    const orphans: Job[] = [];
    for (const job of jobs) {
      this.jobs.set(job.id, job);
      const key = idempotencyKey(job);
      if (key !== null && isBusy(job.state)) this.#keys.set(key, job.id);
      // One process runs a single-process store's jobs: the one that ran these has stopped.
      if (needsRunner(job.state)) orphans.push(job);
    }
    for (const { jobId, ...line } of logs) {
      if (!this.jobs.has(jobId)) continue;
      this.#keepLine(jobId, line);
    }
    for (const lines of this.logs.values()) lines.sort((a, b) => a.seq - b.seq);
    return { head: this.#ids.head(), orphans };
  }

  close(): void {
    this.#context = null;
  }

  get isOpen(): boolean {
    return this.#context !== null;
  }

  create(job: Job, options: WriteOptions = {}): CreateResult {
    const key = idempotencyKey(job);
    if (key !== null) {
      const holder = this.jobs.get(this.#keys.get(key) ?? '');
      if (holder && isBusy(holder.state)) return { created: false, job: holder };
    }
    if (this.jobs.has(job.id)) throw new Error(`a job with id ${job.id} exists already`);
    if (options.slot && needsRunner(job.state)) this.#slots.set(job.id, { ...options.slot, order: ++this.#order });
    return { created: true, event: this.#record(job) };
  }

  write(job: Job, options: WriteOptions = {}): WriteResult {
    const current = this.jobs.get(job.id) ?? null;
    if (!current || current.version !== job.version - 1) return { ok: false, current };
    let slot = this.#slots.get(job.id);
    if (!slot && options.slot && needsRunner(job.state)) {
      // Back to work (an approved pending job): it joins the end of its slot's queue.
      slot = { ...options.slot, order: ++this.#order };
      this.#slots.set(job.id, slot);
    }
    if (slot && current.state === 'queued' && job.state === 'running' && !this.#hasRoom(job.id, slot)) {
      return { ok: false, current, busy: true };
    }
    return { ok: true, event: this.#record(job) };
  }

  appendLog(job: Job, line: Omit<LogLine, 'seq'>, keep: number): JobEvent {
    const lines = this.logs.get(job.id);
    const numbered: LogLine = Object.freeze({ ...line, seq: (lines?.at(-1)?.seq ?? 0) + 1 });
    this.#keepLine(job.id, numbered, keep);
    return this.#event(job, numbered);
  }

  eventsSince(lastEventId: string): Replay {
    const asked = parseEventId(lastEventId);
    if (!asked) return { kind: 'resync', reason: RESYNC_REASON.malformed };
    const head = parseEventId(this.#sequence().head()) as NonNullable<ReturnType<typeof parseEventId>>;
    if (asked.epoch !== head.epoch) return { kind: 'resync', reason: RESYNC_REASON.otherEpoch };
    if (asked.minor !== 0 || comparePositions(asked, head) > 0) {
      return { kind: 'resync', reason: RESYNC_REASON.ahead };
    }
    const oldest = this.#replay.oldest() ?? head.major + 1;
    if (asked.major < oldest - 1) return { kind: 'resync', reason: 'event id older than the replay buffer' };
    const events = this.#replay.since(asked.major);
    return { kind: 'replay', events, head: events.at(-1)?.id ?? lastEventId };
  }

  remove(ids: readonly string[]): number {
    let removed = 0;
    for (const id of ids) {
      this.logs.delete(id);
      this.#slots.delete(id);
      if (this.jobs.delete(id)) removed++;
    }
    return removed;
  }

  head(): string {
    return this.#sequence().head();
  }

  /**
   * First come, first served: the job may start when no older job of its slot is still queued and
   * fewer than `limit` of the slot's jobs run.
   */
  #hasRoom(jobId: string, slot: Slot): boolean {
    let running = 0;
    for (const [id, other] of this.#slots) {
      if (other.name !== slot.name || id === jobId) continue;
      const held = this.jobs.get(id);
      if (held?.state === 'running') running++;
      else if (held?.state === 'queued' && other.order < slot.order) return false;
    }
    return running < slot.limit;
  }

  #keepLine(jobId: string, line: LogLine, keep = Number.POSITIVE_INFINITY): void {
    const lines = this.logs.get(jobId) ?? [];
    lines.push(line);
    if (lines.length > keep) lines.splice(0, lines.length - keep);
    this.logs.set(jobId, lines);
  }

  #record(job: Job): JobEvent {
    this.jobs.set(job.id, job);
    const key = idempotencyKey(job);
    if (key !== null) {
      if (isBusy(job.state)) this.#keys.set(key, job.id);
      else if (this.#keys.get(key) === job.id) this.#keys.delete(key);
    }
    if (!needsRunner(job.state)) this.#slots.delete(job.id);
    return this.#event(job);
  }

  #event(job: Job, log?: LogLine): JobEvent {
    const id = this.#sequence().next();
    const event: JobEvent = Object.freeze(log ? { id, job, log } : { id, job });
    this.#replay.push(parseEventId(id)?.major ?? 0, event);
    this.#context?.onEvent(event);
    return event;
  }

  #sequence(): EventIdSequence {
    if (!this.#ids || !this.#context) throw new Error('the store is not open');
    return this.#ids;
  }
}
