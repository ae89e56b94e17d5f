import { JobsError } from './errors.js';
import { JOB_ID_PATTERN, JOB_STATES, type JobLimits, type JobState, NAME_CHARACTERS, NAME_PATTERN } from './job.js';
import { MAX_JOB_IDS, MAX_TARGET_FILTERS } from './wire.js';

/**
 * A job filter as the HTTP routes read it from a query string. Values of one field OR; different
 * fields AND; an absent field matches everything.
 *
 * | parameter | field |
 * | --- | --- |
 * | `job_id` (repeatable) | `jobId` |
 * | `category` (repeatable) | `category` |
 * | `target.<field>` (repeatable) | `target[field]` |
 * | `state` (repeatable, lists only) | `state` |
 */
export interface QueryFilter {
  jobId?: string[];
  category?: string[];
  target?: Record<string, string[]>;
  state?: JobState[];
}

const TARGET_PREFIX = 'target.';

/** Writes a filter as query parameters (the browser feed's side of the contract). */
export function filterToQuery(filter: QueryFilter, params = new URLSearchParams()): URLSearchParams {
  for (const id of filter.jobId ?? []) params.append('job_id', id);
  for (const category of filter.category ?? []) params.append('category', category);
  for (const [field, values] of Object.entries(filter.target ?? {})) {
    for (const value of values) params.append(`${TARGET_PREFIX}${field}`, value);
  }
  for (const state of filter.state ?? []) params.append('state', state);
  return params;
}

const bad = (field: string, message: string): never => {
  throw new JobsError('invalid_input', message, { field });
};

/**
 * Reads `job_id`, `category`, `target.<field>` and (when `allowState`) `state`, checked against the
 * registry's limits; unknown parameters are ignored. Throws an `invalid_input` {@link JobsError}
 * naming the parameter at fault.
 */
export function parseFilterQuery(
  query: URLSearchParams,
  options: { allowState: boolean; limits: Readonly<JobLimits> },
): QueryFilter {
  const { limits } = options;
  const filter: QueryFilter = {};
  const jobIds = query.getAll('job_id');
  if (jobIds.length > MAX_JOB_IDS) bad('job_id', `\`job_id\` may be given at most ${MAX_JOB_IDS} times`);
  for (const id of jobIds) if (!JOB_ID_PATTERN.test(id)) bad('job_id', '`job_id` must be a job id');
  if (jobIds.length > 0) filter.jobId = jobIds;

  const categories = query.getAll('category');
  for (const category of categories) {
    if (!NAME_PATTERN.test(category) || category.length > limits.categoryLength) {
      bad('category', `\`category\` must be 1–${limits.categoryLength} characters: ${NAME_CHARACTERS}`);
    }
  }
  if (categories.length > 0) filter.category = categories;

  const states = query.getAll('state');
  if (states.length > 0 && !options.allowState) {
    bad('state', '`state` filters lists only: a stream sends every change of state');
  }
  for (const state of states) {
    if (!(JOB_STATES as readonly string[]).includes(state)) {
      bad('state', `\`state\` must be one of ${JOB_STATES.join(', ')}`);
    }
  }
  if (states.length > 0) filter.state = states as JobState[];

  // A Map, not an object: `target.toString` or `target.__proto__` must name a field, not a prototype member.
  const target = new Map<string, string[]>();
  let targetCount = 0;
  for (const [name, value] of query) {
    if (!name.startsWith(TARGET_PREFIX)) continue;
    const field = name.slice(TARGET_PREFIX.length);
    const shown = name.slice(0, 80);
    if (!NAME_PATTERN.test(field) || field.length > limits.targetKeyLength) {
      bad(shown, `\`${shown}\` does not name a valid target field`);
    }
    if (value.length > limits.targetValueLength) {
      bad(shown, `\`${shown}\` must be at most ${limits.targetValueLength} characters`);
    }
    if (++targetCount > MAX_TARGET_FILTERS) bad('target', 'Too many `target.` filters');
    const values = target.get(field) ?? [];
    values.push(value);
    target.set(field, values);
  }
  if (targetCount > 0) filter.target = Object.fromEntries(target);
  return filter;
}
