import { DEFAULT_LIMITS, JOB_ID_PATTERN, type Job, NAME_PATTERN } from '../../protocol/job.js';
import type { QueryFilter } from '../../protocol/query.js';
import { MAX_JOB_IDS } from '../../protocol/wire.js';
import { invalid } from './errors.js';

/**
 * Which jobs a subscription wants. Values of one field OR; different fields AND; an absent field
 * matches everything (the same rules as the HTTP routes' query parameters).
 *
 * @example
 * feed.subscribe({ category: 'sync-push', target: { peer: 'peer-a' } }, (job) => render(job));
 */
export interface JobFeedFilter {
  /** One job id or several. */
  jobId?: string | readonly string[];
  /** One category or several, e.g. `sync-push`. */
  category?: string | readonly string[];
  /** Target fields and the values to match, e.g. `{ peer: 'peer-a' }`. */
  target?: Readonly<Record<string, string | readonly string[]>>;
}

/**
 * A filter as the feed works with it: arrays without duplicates, an absent field meaning "any". It is
 * a {@link QueryFilter}, so `filterToQuery` writes it as the routes read it.
 */
export interface NormalFilter extends Omit<QueryFilter, 'state'> {
  target: Record<string, string[]>;
}

const isName = (value: string, maxLength: number) => NAME_PATTERN.test(value) && value.length <= maxLength;

/** One value or several, checked one by one; undefined when the field is absent or empty. */
function values(value: unknown, field: string, valid: (item: string) => boolean): string[] | undefined {
  if (value === undefined) return undefined;
  const items = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(items)) invalid(field, 'must be a string or an array of strings');
  for (const item of items) {
    if (typeof item !== 'string' || !valid(item))
      invalid(field, `holds ${JSON.stringify(item)}, which is not valid here`);
  }
  return items.length > 0 ? [...new Set(items as string[])] : undefined;
}

/**
 * Checks a subscription's filter with the routes' own rules (job id and name patterns, the default
 * length limits) so a typo fails here, naming the field, rather than as a 400 on every request.
 */
export function normalizeFilter(filter: JobFeedFilter): NormalFilter {
  if (typeof filter !== 'object' || filter === null) invalid('filter', 'must be an object');
  const target: Record<string, string[]> = {};
  if (filter.target !== undefined) {
    if (typeof filter.target !== 'object' || filter.target === null) invalid('filter.target', 'must be an object');
    for (const [field, value] of Object.entries(filter.target)) {
      if (!isName(field, DEFAULT_LIMITS.targetKeyLength))
        invalid(`filter.target.${field}`, 'is not a valid target field');
      const list = values(value, `filter.target.${field}`, (item) => item.length <= DEFAULT_LIMITS.targetValueLength);
      if (list) target[field] = list;
    }
  }
  return {
    jobId: values(filter.jobId, 'filter.jobId', (item) => JOB_ID_PATTERN.test(item)),
    category: values(filter.category, 'filter.category', (item) => isName(item, DEFAULT_LIMITS.categoryLength)),
    target,
  };
}

export function matchesFilter(filter: NormalFilter, job: Job): boolean {
  return (
    (!filter.jobId || filter.jobId.includes(job.id)) &&
    (!filter.category || filter.category.includes(job.category)) &&
    Object.entries(filter.target).every(([field, wanted]) => wanted.includes(job.target?.[field] as string))
  );
}

/**
 * The smallest filter the routes can express that covers every one of `filters`: one connection
 * serves them all, and each subscription picks its own jobs out of it.
 */
export function unionFilters(filters: readonly NormalFilter[]): NormalFilter {
  // One filter without the field means "any" for the union too.
  const merge = (pick: (filter: NormalFilter) => string[] | undefined): string[] | undefined => {
    const all = new Set<string>();
    for (const filter of filters) {
      const list = pick(filter);
      if (!list) return undefined;
      for (const value of list) all.add(value);
    }
    return [...all];
  };
  const target: Record<string, string[]> = {};
  for (const field of Object.keys(filters[0]?.target ?? {})) {
    const list = merge((filter) => filter.target[field]);
    if (list) target[field] = list;
  }
  const jobId = merge((filter) => filter.jobId);
  // The routes take at most MAX_JOB_IDS ids; past that, ask for any id and filter here.
  return {
    jobId: jobId && jobId.length <= MAX_JOB_IDS ? jobId : undefined,
    category: merge((f) => f.category),
    target,
  };
}

/** Whether everything `inner` matches, `outer` matches too. */
export function coversFilter(outer: NormalFilter, inner: NormalFilter): boolean {
  const within = (wide: string[] | undefined, narrow: string[] | undefined) =>
    !wide || (!!narrow && narrow.every((value) => wide.includes(value)));
  return (
    within(outer.jobId, inner.jobId) &&
    within(outer.category, inner.category) &&
    Object.entries(outer.target).every(([field, wanted]) => within(wanted, inner.target[field]))
  );
}
