import { JobsError } from '../protocol/errors.js';
import { JOB_ID_PATTERN, JOB_STATES, type Job, type JobState, NAME_PATTERN } from '../protocol/job.js';
import { MAX_JOB_IDS, MAX_TEXT_FILTER_LENGTH } from '../protocol/wire.js';

/**
 * Which jobs a list, subscription or stream wants. Values of one field OR; different fields AND.
 * An absent or empty field matches everything.
 */
export interface JobFilter {
  jobId?: readonly string[];
  category?: readonly string[];
  /** `{ peer: 'peer-a' }` or `{ peer: ['peer-a', 'peer-b'] }`. */
  target?: Readonly<Record<string, string | readonly string[]>>;
  state?: readonly JobState[];
  /** Only jobs whose scope is one of these (what an authorized principal may see). */
  scopes?: readonly string[];
  /**
   * Only jobs whose message, category, phase or a target value holds this text, ignoring case; at most
   * 200 characters. `''` matches everything.
   */
  text?: string;
}

/** A checked filter: each field as a set (null: no such filter). */
export interface ParsedFilter {
  jobIds: ReadonlySet<string> | null;
  categories: ReadonlySet<string> | null;
  states: ReadonlySet<string> | null;
  scopes: ReadonlySet<string> | null;
  targets: ReadonlyArray<readonly [field: string, values: ReadonlySet<string>]>;
  text: string | null;
}

/** Checks a filter and returns a predicate for it. Throws a {@link JobsError} naming the bad field. */
export function compileFilter(filter: JobFilter = {}): (job: Job) => boolean {
  return matcherOf(parseFilter(filter));
}

/** Checks a filter. Throws a {@link JobsError} naming the bad field. */
export function parseFilter(filter: JobFilter = {}): ParsedFilter {
  if (typeof filter !== 'object' || filter === null || Array.isArray(filter)) {
    throw new JobsError('invalid_input', 'filter: must be an object', { field: 'filter' });
  }
  for (const key of Object.keys(filter)) {
    if (!['jobId', 'category', 'target', 'state', 'scopes', 'text'].includes(key)) {
      throw new JobsError('invalid_input', `filter: \`${key}\` is not a filter`, { field: key });
    }
  }
  const jobIds = strings(filter.jobId, 'jobId', (value) => JOB_ID_PATTERN.test(value), 'a job id');
  if (jobIds && jobIds.size > MAX_JOB_IDS) {
    throw new JobsError('invalid_input', `filter: \`jobId\` holds more than ${MAX_JOB_IDS} ids`, { field: 'jobId' });
  }
  const categories = strings(filter.category, 'category', (value) => NAME_PATTERN.test(value), 'a category');
  const states = strings(
    filter.state,
    'state',
    (value) => (JOB_STATES as readonly string[]).includes(value),
    'a state',
  );
  const scopes = strings(filter.scopes, 'scopes', (value) => value.length > 0, 'a scope');
  const text = textOf(filter.text);
  const targets: Array<[string, Set<string>]> = [];
  if (filter.target !== undefined) {
    if (typeof filter.target !== 'object' || filter.target === null || Array.isArray(filter.target)) {
      throw new JobsError('invalid_input', 'filter: `target` must be an object', { field: 'target' });
    }
    for (const [field, value] of Object.entries(filter.target)) {
      if (!NAME_PATTERN.test(field)) {
        throw new JobsError('invalid_input', `filter: \`target.${field}\` is not a valid target field`, {
          field: `target.${field}`,
        });
      }
      const values = strings(typeof value === 'string' ? [value] : value, `target.${field}`, () => true, 'a value');
      if (values) targets.push([field, values]);
    }
  }
  return { jobIds, categories, states, scopes, targets, text };
}

export function matcherOf({ jobIds, categories, states, scopes, targets, text }: ParsedFilter): (job: Job) => boolean {
  return (job) =>
    (!jobIds || jobIds.has(job.id)) &&
    (!categories || categories.has(job.category)) &&
    (!states || states.has(job.state)) &&
    // An empty scopes list sees nothing: a principal without scopes is forbidden everything.
    (!scopes || scopes.has(job.scope)) &&
    targets.every(([field, values]) => {
      const actual = job.target[field];
      return actual !== undefined && values.has(actual);
    }) &&
    (text === null || holdsText(job, text));
}

/**
 * Index keys (see {@link jobKeys}): a job matching the filter holds one key of each group. Job ids,
 * categories, states and each target field each give a group; the other fields none.
 */
export function keyGroups({ jobIds, categories, states, targets }: ParsedFilter): string[][] {
  const groups: string[][] = [];
  if (jobIds) groups.push([...jobIds].map((id) => idKey(id)));
  if (categories) groups.push([...categories].map((category) => `c\0${category}`));
  for (const [field, values] of targets) groups.push([...values].map((value) => targetKey(field, value)));
  if (states) groups.push([...states].map(stateKey));
  return groups;
}

/** A job's index keys, one per group kind: category, state, each target entry. Its id key is {@link idKey}. */
export function jobKeys(job: Job): string[] {
  const keys = [`c\0${job.category}`, stateKey(job.state)];
  for (const field in job.target) keys.push(targetKey(field, job.target[field] as string));
  return keys;
}

export function stateKey(state: string): string {
  return `s\0${state}`;
}

export function idKey(id: string): string {
  return `i\0${id}`;
}

// Names hold no NUL, so the field ends at the first one and the value may hold anything.
function targetKey(field: string, value: string): string {
  return `t\0${field}\0${value}`;
}

/** The text filter, lower-cased; null for none. */
function textOf(value: unknown): string | null {
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string' || value.length > MAX_TEXT_FILTER_LENGTH) {
    throw new JobsError(
      'invalid_input',
      `filter: \`text\` must be a string of at most ${MAX_TEXT_FILTER_LENGTH} characters`,
      {
        field: 'text',
      },
    );
  }
  return value.toLowerCase();
}

function holdsText(job: Job, text: string): boolean {
  const has = (value: string | null) => value?.toLowerCase().includes(text) === true;
  return has(job.message) || has(job.category) || has(job.phase) || Object.values(job.target).some(has);
}

function strings(
  value: readonly string[] | undefined,
  field: string,
  valid: (value: string) => boolean,
  what: string,
): Set<string> | null {
  if (value === undefined) return null;
  if (!Array.isArray(value)) throw new JobsError('invalid_input', `filter: \`${field}\` must be an array`, { field });
  for (const item of value) {
    if (typeof item !== 'string' || !valid(item)) {
      throw new JobsError('invalid_input', `filter: \`${field}\` holds ${JSON.stringify(item)}, which is not ${what}`, {
        field,
      });
    }
  }
  // `scopes: []` must match nothing, so it is kept; other empty lists mean "no filter".
  if (value.length === 0 && field !== 'scopes') return null;
  return new Set(value);
}
