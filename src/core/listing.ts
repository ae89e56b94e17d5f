import { JobsError } from '../protocol/errors.js';
import type { Job } from '../protocol/job.js';
import { LIST_LIMIT } from '../protocol/wire.js';
import { compileFilter } from './filter.js';
import type { JobPage, ListOptions, ListPosition, PageOptions } from './registry-api.js';

/**
 * Lists and pages over the jobs a registry holds, in queue order (oldest first), newest first. A
 * list follows queue order; a page follows `queuedAt` then id, which every instance agrees on, so a
 * cursor means the same wherever it is used.
 */

function checkedLimit(what: string, limit: unknown): number {
  if (!Number.isSafeInteger(limit) || (limit as number) < 1 || (limit as number) > LIST_LIMIT.max) {
    throw new JobsError('invalid_input', `${what}: \`limit\` must be an integer from 1 to ${LIST_LIMIT.max}`, {
      field: 'limit',
    });
  }
  return limit as number;
}

/** The newest `limit` jobs matching the filter. */
export function listJobs(held: Iterable<Job>, options: ListOptions = {}): Job[] {
  const { limit: asked = LIST_LIMIT.default, ...filter } = options ?? {};
  const limit = checkedLimit('list', asked);
  const matches = compileFilter(filter);
  const jobs = [...held];
  const result: Job[] = [];
  for (let i = jobs.length - 1; i >= 0 && result.length < limit; i--) {
    const job = jobs[i] as Job;
    if (matches(job)) result.push(job);
  }
  return result;
}

/** One page of the jobs matching the filter, after `before`, and the position the next page starts at. */
export function pageJobs(held: Iterable<Job>, options: PageOptions = {}): JobPage {
  const { limit: asked = LIST_LIMIT.default, before, ...filter } = options ?? {};
  const limit = checkedLimit('page', asked);
  const end = before === undefined ? null : pageKey(before);
  const matches = compileFilter(filter);
  // The first limit + 1 matches after `end`, in page order: the extra one says a next page exists.
  // Jobs are held in queue order, nearly page order, so walking from the newest most jobs fall
  // behind the kept ones at once and the insertion below rarely moves anything.
  const kept: PageKey[] = [];
  const jobs = [...held];
  for (let i = jobs.length - 1; i >= 0; i--) {
    const job = jobs[i] as Job;
    const key: PageKey = { at: Date.parse(job.queuedAt), id: job.id, job };
    if ((end && !comesBefore(end, key)) || !matches(job)) continue;
    let index = kept.length;
    while (index > 0 && comesBefore(key, kept[index - 1] as PageKey)) index--;
    if (index > limit) continue;
    kept.splice(index, 0, key);
    if (kept.length > limit + 1) kept.pop();
  }
  const page = kept.slice(0, limit).map((key) => key.job as Job);
  const last = page[page.length - 1];
  return { jobs: page, next: kept.length > limit && last ? { queuedAt: last.queuedAt, id: last.id } : null };
}

/** A job's place in page order: `queuedAt` as a number (stored times may differ in precision), then id. */
interface PageKey {
  at: number;
  id: string;
  job?: Job;
}

/** Whether `a` comes before `b` in page order: newer first, then the greater id. */
function comesBefore(a: PageKey, b: PageKey): boolean {
  return a.at !== b.at ? a.at > b.at : a.id > b.id;
}

function pageKey(before: ListPosition): PageKey {
  const at = typeof before?.queuedAt === 'string' ? Date.parse(before.queuedAt) : Number.NaN;
  if (Number.isNaN(at) || typeof before.id !== 'string') {
    throw new JobsError('invalid_input', 'page: `before` must be { queuedAt: an ISO time, id: a job id }', {
      field: 'before',
    });
  }
  return { at, id: before.id };
}
