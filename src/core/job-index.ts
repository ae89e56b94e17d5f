import type { Job } from '../protocol/job.js';
import { jobKeys, keyGroups, type ParsedFilter, stateKey } from './filter.js';

/**
 * A job's place in page order: newest `queuedAt` first (as a number: stored times may differ in
 * precision), then the greater id. Every instance agrees on it, so a position means the same anywhere.
 */
export interface PageKey {
  at: number;
  id: string;
}

/**
 * The jobs a registry holds by id, and in page order overall, per category, per state and per target
 * value. A list or a page reads only the jobs its narrowest filter field allows, from the first one it
 * wants: with 10,000 jobs held, the newest 100 of one target cost about 100 steps, not 10,000.
 */
export class JobIndex {
  readonly #jobs = new Map<string, Job>();
  readonly #all = new SortedKeys();
  readonly #byKey = new Map<string, SortedKeys>();

  get size() {
    return this.#jobs.size;
  }

  get(id: string): Job | undefined {
    return this.#jobs.get(id);
  }

  has(id: string): boolean {
    return this.#jobs.has(id);
  }

  countInState(state: string): number {
    return this.#byKey.get(stateKey(state))?.size ?? 0;
  }

  /** Every job, in the order they first arrived. */
  values(): IterableIterator<Job> {
    return this.#jobs.values();
  }

  set(job: Job): void {
    const held = this.#jobs.get(job.id);
    this.#jobs.set(job.id, job);
    if (held && sameKeys(held, job)) return;
    if (held) this.#unindex(held);
    const at = Date.parse(job.queuedAt);
    this.#all.insert(at, job.id);
    for (const key of jobKeys(job)) {
      const sorted = this.#byKey.get(key) ?? new SortedKeys();
      sorted.insert(at, job.id);
      this.#byKey.set(key, sorted);
    }
  }

  delete(id: string): void {
    const held = this.#jobs.get(id);
    if (!held) return;
    this.#jobs.delete(id);
    this.#unindex(held);
  }

  /** Deletes many at once (pruning): one pass over each list instead of a splice per job. */
  deleteMany(ids: readonly string[]): void {
    if (ids.length < 32) {
      for (const id of ids) this.delete(id);
      return;
    }
    for (const id of ids) this.#jobs.delete(id);
    this.#all.keepOnly(this.#jobs);
    for (const [key, sorted] of this.#byKey) {
      sorted.keepOnly(this.#jobs);
      if (sorted.size === 0) this.#byKey.delete(key);
    }
  }

  clear(): void {
    this.#jobs.clear();
    this.#all.clear();
    this.#byKey.clear();
  }

  /**
   * The jobs that may match `filter`, newest first in page order, from just after `after` (from the
   * newest when null). Check each with the filter's predicate: only its narrowest field is applied.
   */
  *newestFirst(filter: ParsedFilter, after: PageKey | null): Generator<Job> {
    if (filter.jobIds) {
      // At most a few hundred ids: look each up and sort them.
      const keys: PageKey[] = [];
      for (const id of filter.jobIds) {
        const job = this.#jobs.get(id);
        if (job) keys.push({ at: Date.parse(job.queuedAt), id });
      }
      keys.sort((a, b) => (isBelow(a.at, a.id, b.at, b.id) ? 1 : -1));
      for (const key of keys) {
        if (!after || isBelow(key.at, key.id, after.at, after.id)) yield this.#jobs.get(key.id) as Job;
      }
      return;
    }
    let lists: SortedKeys[] = [this.#all];
    let fewest = this.#all.size;
    for (const group of keyGroups(filter)) {
      const found = group.flatMap((key) => this.#byKey.get(key) ?? []);
      const count = found.reduce((sum, sorted) => sum + sorted.size, 0);
      if (count < fewest) [lists, fewest] = [found, count];
    }
    for (const id of mergeNewestFirst(lists, after)) yield this.#jobs.get(id) as Job;
  }

  #unindex(job: Job) {
    const at = Date.parse(job.queuedAt);
    this.#all.remove(at, job.id);
    for (const key of jobKeys(job)) {
      const sorted = this.#byKey.get(key);
      sorted?.remove(at, job.id);
      if (sorted?.size === 0) this.#byKey.delete(key);
    }
  }
}

/** Whether a job's index keys are unchanged: most updates change progress or message only. */
function sameKeys(a: Job, b: Job): boolean {
  if (a.queuedAt !== b.queuedAt || a.state !== b.state || a.category !== b.category) return false;
  if (a.target === b.target) return true;
  const fields = Object.keys(a.target);
  return fields.length === Object.keys(b.target).length && fields.every((f) => a.target[f] === b.target[f]);
}

/** Whether (aAt, aId) comes after (bAt, bId) in page order, i.e. is older. */
function isBelow(aAt: number, aId: string, bAt: number, bId: string): boolean {
  return aAt !== bAt ? aAt < bAt : aId < bId;
}

/** Ids of several sorted lists, newest first, from just after `after`. */
function* mergeNewestFirst(lists: SortedKeys[], after: PageKey | null): Generator<string> {
  const cursors = lists.map((sorted) => sorted.indexBelow(after));
  if (lists.length === 1) {
    const [sorted] = lists as [SortedKeys];
    for (let i = cursors[0] as number; i >= 0; i--) yield sorted.ids[i] as string;
    return;
  }
  for (;;) {
    let pick = -1;
    for (let l = 0; l < lists.length; l++) {
      const i = cursors[l] as number;
      if (i < 0) continue;
      const sorted = lists[l] as SortedKeys;
      if (pick < 0) pick = l;
      else {
        const best = lists[pick] as SortedKeys;
        const j = cursors[pick] as number;
        if (isBelow(best.at[j] as number, best.ids[j] as string, sorted.at[i] as number, sorted.ids[i] as string)) {
          pick = l;
        }
      }
    }
    if (pick < 0) return;
    const sorted = lists[pick] as SortedKeys;
    const i = cursors[pick] as number;
    cursors[pick] = i - 1;
    yield sorted.ids[i] as string;
  }
}

/**
 * Page keys oldest first, so a new job lands at the end. Two parallel arrays instead of an array of
 * objects: 10,000 jobs under five keys each would otherwise hold 60,000 small objects.
 */
class SortedKeys {
  at: number[] = [];
  ids: string[] = [];

  get size() {
    return this.ids.length;
  }

  insert(at: number, id: string) {
    const end = this.ids.length;
    if (end === 0 || isBelow(this.at[end - 1] as number, this.ids[end - 1] as string, at, id)) {
      this.at.push(at);
      this.ids.push(id);
      return;
    }
    const i = this.#firstNotBelow(at, id);
    this.at.splice(i, 0, at);
    this.ids.splice(i, 0, id);
  }

  remove(at: number, id: string) {
    const i = this.#firstNotBelow(at, id);
    if (this.ids[i] !== id) return;
    this.at.splice(i, 1);
    this.ids.splice(i, 1);
  }

  clear() {
    this.at = [];
    this.ids = [];
  }

  keepOnly(held: ReadonlyMap<string, unknown>) {
    let kept = 0;
    for (let i = 0; i < this.ids.length; i++) {
      if (!held.has(this.ids[i] as string)) continue;
      this.at[kept] = this.at[i] as number;
      this.ids[kept++] = this.ids[i] as string;
    }
    this.at.length = kept;
    this.ids.length = kept;
  }

  /** The index of the newest key older than `after` (of the newest key when null); -1 for none. */
  indexBelow(after: PageKey | null): number {
    return after ? this.#firstNotBelow(after.at, after.id) - 1 : this.ids.length - 1;
  }

  #firstNotBelow(at: number, id: string): number {
    let low = 0;
    let high = this.ids.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (isBelow(this.at[mid] as number, this.ids[mid] as string, at, id)) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
