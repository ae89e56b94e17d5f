import {
  type CreateResult,
  idempotencyKey,
  type JobEvent,
  needsRunner,
  RESYNC_REASON,
  type Replay,
  type StoreContext,
  type WriteResult,
} from '../core/store.js';
import { isBusy, type Job } from '../protocol/job.js';
import { comparePositions, parseEventId } from '../protocol/wire.js';
import { createEventIdSequence, type EventIdSequence } from './event-ids.js';
import { ReplayBuffer } from './replay-buffer.js';

/**
 * The state of a single-process store (memory, JSONL): every job, the busy jobs' idempotency keys,
 * event ids and the replay buffer. It is the whole store for `memoryStore()`; `jsonlStore()` adds a
 * log file that records each change.
 */
export class LocalState {
  /** The newest snapshot of every job. */
  readonly jobs = new Map<string, Job>();
  /** Busy jobs by idempotency key. */
  readonly #keys = new Map<string, string>();
  readonly #replay: ReplayBuffer;
  #ids: EventIdSequence | null = null;
  #context: StoreContext | null = null;

  constructor(replayBufferSize: number) {
    this.#replay = new ReplayBuffer(replayBufferSize);
  }

  /** Starts a new epoch over `jobs` (what the storage held) and says which busy jobs lost their runner. */
  open(context: StoreContext, jobs: Iterable<Job>): { head: string; orphans: Job[] } {
    this.#context = context;
    this.#ids = createEventIdSequence();
    this.#replay.clear();
    this.jobs.clear();
    this.#keys.clear();
    const orphans: Job[] = [];
    for (const job of jobs) {
      this.jobs.set(job.id, job);
      const key = idempotencyKey(job);
      if (key !== null && isBusy(job.state)) this.#keys.set(key, job.id);
      // One process runs a single-process store's jobs: the one that ran these has stopped.
      if (needsRunner(job.state)) orphans.push(job);
    }
    return { head: this.#ids.head(), orphans };
  }

  close(): void {
    this.#context = null;
  }

  get isOpen(): boolean {
    return this.#context !== null;
  }

  create(job: Job): CreateResult {
    const key = idempotencyKey(job);
    if (key !== null) {
      const holder = this.jobs.get(this.#keys.get(key) ?? '');
      if (holder && isBusy(holder.state)) return { created: false, job: holder };
    }
    if (this.jobs.has(job.id)) throw new Error(`a job with id ${job.id} exists already`);
    return { created: true, event: this.#record(job) };
  }

  write(job: Job): WriteResult {
    const current = this.jobs.get(job.id) ?? null;
    if (!current || current.version !== job.version - 1) return { ok: false, current };
    return { ok: true, event: this.#record(job) };
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
    for (const id of ids) if (this.jobs.delete(id)) removed++;
    return removed;
  }

  head(): string {
    return this.#sequence().head();
  }

  #record(job: Job): JobEvent {
    const sequence = this.#sequence();
    this.jobs.set(job.id, job);
    const key = idempotencyKey(job);
    if (key !== null) {
      if (isBusy(job.state)) this.#keys.set(key, job.id);
      else if (this.#keys.get(key) === job.id) this.#keys.delete(key);
    }
    const id = sequence.next();
    const event: JobEvent = Object.freeze({ id, job });
    this.#replay.push(parseEventId(id)?.major ?? 0, event);
    this.#context?.onEvent(event);
    return event;
  }

  #sequence(): EventIdSequence {
    if (!this.#ids || !this.#context) throw new Error('the store is not open');
    return this.#ids;
  }
}
