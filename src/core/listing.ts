import { JobsError } from '../protocol/errors.js';
import type { Job } from '../protocol/job.js';
import { LIST_LIMIT } from '../protocol/wire.js';
import { matcherOf, parseFilter } from './filter.js';
import type { JobIndex, PageKey } from './job-index.js';
import type { JobPage, ListOptions, ListPosition, PageOptions } from './registry-api.js';

/**
 * Lists and pages over the jobs a registry holds, newest first in page order (`queuedAt`, then id),
 * which every instance agrees on, so a cursor means the same wherever it is used. The index hands out
 * only the jobs the filter's narrowest field allows, so a request reads about what it returns.
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
export function listJobs(index: JobIndex, options: ListOptions = {}): Job[] {
  const { limit = LIST_LIMIT.default, ...filter } = options ?? {};
  return walk(index, checkedLimit('list', limit), null, filter).jobs;
}

/** One page of the jobs matching the filter, after `before`, and the position the next page starts at. */
export function pageJobs(index: JobIndex, options: PageOptions = {}): JobPage {
  const { limit = LIST_LIMIT.default, before, ...filter } = options ?? {};
  return walk(index, checkedLimit('page', limit), before === undefined ? null : pageKey(before), filter);
}

function walk(index: JobIndex, limit: number, after: PageKey | null, filter: ListOptions): JobPage {
  const parsed = parseFilter(filter);
  const matches = matcherOf(parsed);
  const jobs: Job[] = [];
  for (const job of index.newestFirst(parsed, after)) {
    if (!matches(job)) continue;
    if (jobs.length === limit) {
      const last = jobs[limit - 1] as Job;
      return { jobs, next: { queuedAt: last.queuedAt, id: last.id } };
    }
    jobs.push(job);
  }
  return { jobs, next: null };
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
