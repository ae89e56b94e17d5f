import { JobsError } from '../protocol/errors.js';
import type { Job } from '../protocol/job.js';
import { SlotBusy } from './job-writer.js';
import type { Plan } from './runner.js';

/** Queued jobs waiting for a concurrency slot look again this often (a slot freed elsewhere). */
const SLOT_POLL_MS = 1000;

export interface StartQueueHost {
  get(id: string): Job | undefined;
  /** Writes the job `running` (its slot permitting); rejects with {@link SlotBusy} when full. */
  start(id: string, attempt: number): Promise<Job>;
  /** Runs the work of a job that just started. */
  execute(job: Job, plan: Plan): void;
  isClosed(): boolean;
  report(error: unknown): void;
}

/**
 * The queued jobs this instance owns, each with the plan to run once it starts. A job starts as soon
 * as its concurrency slot lets it (the store decides, first come first served): at once, when a job
 * of its category leaves `running` here, or at the next look (every second) for a slot freed on
 * another instance.
 */
export class StartQueue {
  readonly #host: StartQueueHost;
  readonly #plans = new Map<string, Plan>();
  readonly #starting = new Set<string>();
  /**
   * Jobs whose start failed on the store (reported once, not again until a success), with the attempt
   * that start wrote: the write may have landed all the same, its answer lost.
   */
  readonly #failing = new Map<string, number>();
  #timer: ReturnType<typeof setInterval> | null = null;

  constructor(host: StartQueueHost) {
    this.#host = host;
  }

  get size(): number {
    return this.#plans.size;
  }

  /** Starts `job` with `plan` as soon as its slot allows. */
  add(job: Job, plan: Plan): void {
    this.#plans.set(job.id, plan);
    if (!this.#timer) {
      this.#timer = setInterval(() => this.wake(null), SLOT_POLL_MS);
      (this.#timer as { unref?: () => void }).unref?.();
    }
    void this.#tryStart(job.id);
  }

  /** A job left the queue (it ended, or runs elsewhere now). */
  forget(id: string): void {
    this.#plans.delete(id);
    this.#failing.delete(id);
  }

  /** A slot may have come free: tries the waiting jobs of `category` (all, with null), oldest first. */
  wake(category: string | null): void {
    if (this.#plans.size === 0) {
      this.#stopTimer();
      return;
    }
    const waiting = [...this.#plans.keys()]
      .map((id) => this.#host.get(id))
      .filter((job): job is Job => job !== undefined && (category === null || job.category === category))
      .sort((a, b) => (a.queuedAt < b.queuedAt ? -1 : a.queuedAt > b.queuedAt ? 1 : 0));
    for (const job of waiting) void this.#tryStart(job.id);
  }

  clear(): void {
    this.#plans.clear();
    this.#failing.clear();
    this.#stopTimer();
  }

  async #tryStart(id: string): Promise<void> {
    const plan = this.#plans.get(id);
    const job = this.#host.get(id);
    if (!plan || this.#starting.has(id) || this.#host.isClosed()) return;
    if (job?.state !== 'queued') {
      // A start that failed on the store but landed (the connection dropped after Redis ran it): the
      // job runs at the attempt this instance wrote, and only this instance starts its queued jobs,
      // so the work is ours to run. Dropping it would leave the job running, leased, for ever.
      const landed = job?.state === 'running' && this.#failing.get(id) === job.attempt;
      this.#plans.delete(id);
      this.#failing.delete(id);
      if (landed) this.#host.execute(job, plan);
      return;
    }
    this.#starting.add(id);
    const attempt = job.attempt + 1;
    try {
      const started = await this.#host.start(id, attempt);
      this.#plans.delete(id);
      this.#failing.delete(id);
      this.#host.execute(started, plan);
    } catch (error) {
      if (error instanceof SlotBusy) return; // waits for a slot
      if (error instanceof JobsError && (error.code === 'invalid_transition' || error.code === 'not_found')) {
        // Moved on meanwhile (cancelled, taken over, pruned): nothing left to start.
        this.#plans.delete(id);
        this.#failing.delete(id);
        return;
      }
      // The store failed (a shared one out of reach). The job stays queued and owned here, its lease
      // renewed, so no other instance takes it: dropping its plan would leave it queued for ever. The
      // next look (every second) tries again; the failure is reported once, not every second.
      if (!this.#failing.has(id)) this.#host.report(error);
      this.#failing.set(id, attempt);
    } finally {
      this.#starting.delete(id);
    }
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
