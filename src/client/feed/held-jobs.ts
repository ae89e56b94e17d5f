import type { Job } from '../../protocol/job.js';
import { matchesFilter, type NormalFilter } from './filter.js';

/** Jobs held at most; past this the least recently changed is forgotten. */
const MAX_HELD_JOBS = 2000;

/** Whether a value from the wire has the fields the feed relies on. */
export function isJob(value: unknown): value is Job {
  const job = value as Job;
  return (
    typeof job === 'object' &&
    job !== null &&
    typeof job.id === 'string' &&
    typeof job.state === 'string' &&
    typeof job.category === 'string' &&
    Number.isSafeInteger(job.version)
  );
}

/**
 * The newest version of every job the feed has seen: what a late subscriber is served at once, and
 * what decides whether an arriving job is news.
 */
export class HeldJobs {
  readonly #jobs = new Map<string, Job>();
  readonly #deliver: (job: Job) => void;

  /** `deliver` is called with every job taken. */
  constructor(deliver: (job: Job) => void) {
    this.#deliver = deliver;
  }

  /**
   * Takes `job` when it is newer than the version held, so a replay overlapping a snapshot or a poll
   * racing a stream never moves a view backwards. A full snapshot (`fromSnapshot`) is the server's
   * truth: its version is taken even when it is not newer (a restarted server with a rebuilt log), and
   * only an identical one is skipped.
   */
  apply(job: Job, fromSnapshot: boolean): void {
    const held = this.#jobs.get(job.id);
    if (held) {
      const same = held.version === job.version && held.updatedAt === job.updatedAt;
      if (fromSnapshot ? same : job.version <= held.version) return;
    }
    // Delete first: a Map keeps insertion order, so the first key is the least recently changed.
    this.#jobs.delete(job.id);
    this.#jobs.set(job.id, job);
    if (this.#jobs.size > MAX_HELD_JOBS) this.#jobs.delete(this.#jobs.keys().next().value as string);
    this.#deliver(job);
  }

  /** After a full snapshot for `filter`: forgets the matching jobs it did not carry (gone from the server). */
  forgetMissing(filter: NormalFilter, carried: ReadonlySet<string>): void {
    for (const [id, job] of this.#jobs) if (!carried.has(id) && matchesFilter(filter, job)) this.#jobs.delete(id);
  }

  matching(filter: NormalFilter): Job[] {
    return [...this.#jobs.values()].filter((job) => matchesFilter(filter, job));
  }

  /** Whether `job` is still the version held (not replaced or forgotten since). */
  holds(job: Job): boolean {
    return this.#jobs.get(job.id) === job;
  }
}
