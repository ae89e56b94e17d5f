import { JobsError } from '../protocol/errors.js';
import { canTransition, isTerminal, type Job } from '../protocol/job.js';
import { applyPatch, type JobChange } from './next-version.js';
import type { JobStore, WriteOptions } from './store.js';

/** A write that would start a job found its concurrency slot full; the job stays queued. */
export class SlotBusy extends Error {
  constructor(readonly job: Job) {
    super(`Job ${job.id} waits for a free slot`);
  }
}

/**
 * A write that loses to another instance is retried on the version that won, this many times at
 * most, with a short random pause after the first retries so racing writers spread out.
 */
const WRITE_ATTEMPTS = 50;

interface PendingWrite {
  change: JobChange;
  resolve: (job: Job) => void;
  reject: (error: unknown) => void;
}

export interface JobWriterHost {
  readonly store: JobStore;
  /** The newest snapshot this instance holds. */
  get(id: string): Job | undefined;
  /** Takes a newer snapshot another writer recorded (its event is on the way). */
  adopt(job: Job): void;
  /** What the store is told about a write: the lease and the concurrency slot. */
  optionsFor(current: Job, next: Job): WriteOptions;
  /** A write of `next` over `current` is in (not called for one that lost a race). */
  wrote?(current: Job, next: Job): void;
}

/**
 * Writes changes to jobs through the store, one write per job at a time, in the order they were made.
 * Changes without a `state` that queue up behind a write in flight go out together with the next
 * one: a flood of `ctx.progress()` becomes one write per round trip. A write that loses a race with
 * another instance is retried on the version that won, so no change is applied to a stale job.
 */
export class JobWriter {
  /** Changes waiting to be written, per job; the first entry's write may be in flight. */
  readonly #queues = new Map<string, PendingWrite[]>();

  constructor(readonly host: JobWriterHost) {}

  write(id: string, change: JobChange): Promise<Job> {
    const queue = this.#queues.get(id);
    return new Promise<Job>((resolve, reject) => {
      const pending = { change, resolve, reject };
      if (queue) {
        queue.push(pending);
        return;
      }
      this.#queues.set(id, [pending]);
      void this.#drain(id);
    });
  }

  async #drain(id: string): Promise<void> {
    for (;;) {
      const queue = this.#queues.get(id) ?? [];
      let take = 0;
      while (take < queue.length && queue[take]?.change.state === undefined) take++;
      // A guarded change goes alone: its refusal must not take the progress queued before it along.
      const guarded = take > 0 && queue[take]?.change.onlyFrom !== undefined;
      const batch = queue.splice(0, Math.min(guarded ? take : take + 1, queue.length));
      if (batch.length === 0) {
        this.#queues.delete(id);
        return;
      }
      const change: JobChange = Object.assign({}, ...batch.map((entry) => entry.change));
      try {
        const job = await this.#commit(id, change);
        for (const entry of batch) entry.resolve(job);
      } catch (error) {
        for (const entry of batch) entry.reject(error);
      }
    }
  }

  async #commit(id: string, change: JobChange): Promise<Job> {
    for (let attempt = 1; ; attempt++) {
      const current = this.host.get(id);
      if (!current) throw new JobsError('not_found', `No job with id ${JSON.stringify(id)}`, { jobId: id });
      const { onlyFrom } = change;
      if (onlyFrom && current.state !== onlyFrom.state) {
        throw new JobsError(
          'invalid_transition',
          `Job ${id} is ${current.state}: only a ${onlyFrom.state} job is ${onlyFrom.action}`,
          { jobId: id, field: 'state' },
        );
      }
      if (isTerminal(current.state)) {
        throw new JobsError('invalid_transition', `Job ${id} is ${current.state} and a finished job never changes`, {
          jobId: id,
          field: 'state',
        });
      }
      if (change.state !== undefined && !canTransition(current.state, change.state)) {
        throw new JobsError('invalid_transition', `Job ${id} cannot go from ${current.state} to ${change.state}`, {
          jobId: id,
          field: 'state',
        });
      }
      const next = applyPatch(current, change, new Date().toISOString());
      const result = await this.host.store.write(next, this.host.optionsFor(current, next));
      if (result.ok) {
        this.host.wrote?.(current, next);
        return this.host.get(id) ?? result.event.job;
      }
      if (!result.current) throw new JobsError('not_found', `No job with id ${JSON.stringify(id)}`, { jobId: id });
      if (result.current.version > current.version) this.host.adopt(result.current);
      if (result.busy) throw new SlotBusy(result.current);
      if (attempt >= WRITE_ATTEMPTS) {
        throw new JobsError('conflict', `Job ${id} kept changing under this write; try again`, { jobId: id });
      }
      if (attempt > 1) await delay(Math.random() * Math.min(attempt, 20));
    }
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    (timer as { unref?: () => void }).unref?.();
  });
}
