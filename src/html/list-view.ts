import type { JobAction } from '../protocol/actions.js';
import { isBusy, JOB_STATES, type Job, type JobState, NAME_PATTERN } from '../protocol/job.js';
import { LIST_LIMIT, MAX_TEXT_FILTER_LENGTH } from '../protocol/wire.js';
import { percent, STATE_WORDS } from './tile-view.js';

/**
 * What a job list shows, worked out once for both renderers (`renderJobList()` on the server and
 * `<job-list>` in the browser), so the two show the same rows in the same words.
 */

/** A list's filters and page, as the list route's query parameters read them. */
export interface JobListQuery {
  /** Only jobs in this state (`state`). */
  state?: JobState;
  /** Only jobs of this category (`category`). */
  category?: string;
  /** With `target`: only jobs whose `target[targetField]` is `target` (`target.<field>`). */
  targetField?: string;
  target?: string;
  /** Free text the server looks for in the jobs (`text`). */
  text?: string;
  /** Jobs per page (`limit`). */
  limit?: number;
  /** The cursor of the page: jobs older than those already seen (`before`), from a list answer's `next`. */
  before?: string;
}

/** The longest `before` cursor accepted (the routes' own are far shorter). */
export const MAX_CURSOR_LENGTH = 500;

/** Words of each action, on its button. */
export const ACTION_WORDS: Readonly<Record<JobAction, string>> = {
  cancel: 'Cancel',
  retry: 'Retry',
  approve: 'Approve',
  reject: 'Reject',
};

/** `Cancel sync-push (peer: peer-a)`: an action button's name says which job it acts on. */
export function actionName(action: JobAction, category: string, target: string): string {
  return `${ACTION_WORDS[action]} ${category}${target ? ` (${target})` : ''}`;
}

/** The column headings, in order; `Actions` follows when the routes offer actions. */
export const LIST_COLUMNS = ['State', 'Category', 'Target', 'Message', 'Progress', 'Queued', 'Duration'] as const;

/**
 * Checks a list's query, whatever it came from (options, attributes, a query string): `fail(field, why)`
 * throws or reports, naming the field. Empty strings count as absent.
 */
export function checkListQuery(
  input: Record<string, unknown>,
  fail: (field: string, why: string) => never,
): JobListQuery {
  const query: JobListQuery = {};
  const text = (field: keyof JobListQuery, max: number, pattern?: RegExp): string | undefined => {
    const value = input[field];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') fail(field, 'must be a string');
    if (value.length > max) fail(field, `must be at most ${max} characters`);
    if (pattern && !pattern.test(value)) fail(field, `must be 1–${max} of A–Z a–z 0–9 . _ : -`);
    return value;
  };
  const state = text('state', 20);
  if (state !== undefined && !(JOB_STATES as readonly string[]).includes(state)) {
    fail('state', `must be one of ${JOB_STATES.join(', ')}`);
  }
  query.state = state as JobState | undefined;
  query.category = text('category', 100, NAME_PATTERN);
  query.targetField = text('targetField', 64, NAME_PATTERN);
  query.target = text('target', 256);
  if (query.target !== undefined && query.targetField === undefined) {
    fail('targetField', 'is needed with `target`: the target field to match, e.g. "peer"');
  }
  query.text = text('text', MAX_TEXT_FILTER_LENGTH)?.trim() || undefined;
  query.before = text('before', MAX_CURSOR_LENGTH);
  const limit = input.limit;
  if (limit !== undefined && limit !== null && limit !== '') {
    const value = typeof limit === 'string' && /^\d{1,4}$/.test(limit) ? Number(limit) : limit;
    if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > LIST_LIMIT.max) {
      fail('limit', `must be an integer from 1 to ${LIST_LIMIT.max}`);
    }
    query.limit = value as number;
  }
  for (const key of Object.keys(query) as Array<keyof JobListQuery>) if (query[key] === undefined) delete query[key];
  return query;
}

/**
 * The list route's query string for `query` (its filters, page and size), and any extra parameters:
 * what the element asks the routes and what the server markup's links carry.
 */
export function listQueryString(query: JobListQuery, extra: Record<string, string> = {}): string {
  const params = new URLSearchParams();
  if (query.state) params.set('state', query.state);
  if (query.category) params.set('category', query.category);
  if (query.targetField && query.target !== undefined) params.set(`target.${query.targetField}`, query.target);
  if (query.text) params.set('text', query.text);
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  if (query.before) params.set('before', query.before);
  for (const [name, value] of Object.entries(extra)) params.set(name, value);
  return params.toString();
}

/** Bidi embedding, override and isolate characters: invisible, and they reorder the text after them. */
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/;

/**
 * `peer: peer-a, region: eu`: a job's target in words (`''` for none). A value holding bidi control
 * characters (a U+202E override) is isolated (U+2068 … U+2069, its own isolates dropped so none can
 * close ours early), so it cannot reorder the fields after it.
 */
export function targetText(target: Readonly<Record<string, string>> | undefined): string {
  return Object.entries(target ?? {})
    .map(
      ([field, value]) =>
        // `String()`: a broken server may send a value that is no string.
        `${field}: ${BIDI_CONTROLS.test(value) ? `\u2068${String(value).replace(/[\u2066-\u2069]/g, '')}\u2069` : value}`,
    )
    .join(', ');
}

/** How long a job ran (or has run so far), in milliseconds; null before it started. */
export function jobDuration(job: Job, now: number): number | null {
  if (!job.startedAt) return null;
  const end = job.finishedAt ? Date.parse(job.finishedAt) : isBusy(job.state) ? now : Date.parse(job.updatedAt);
  const ms = end - Date.parse(job.startedAt);
  return Number.isFinite(ms) ? Math.max(0, ms) : null;
}

/** `0.4 s`, `12 s`, `3 min 4 s`, `2 h 5 min`, `3 d 4 h`; `—` for none. */
export function formatDuration(ms: number | null): string {
  if (ms === null) return '—';
  if (ms < 10_000) return `${Math.floor(ms / 100) / 10} s`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor(s / 60) % 60} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor(s / 3600) % 24} h`;
}

/** `2026-11-28 13:00:15` in the reader's time zone: the same shape as the server's UTC times. */
export function formatLocal(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** One row of a job list. */
export interface RowView {
  id: string;
  state: JobState;
  /** The state in words, as `<job-status>` says it. */
  badge: string;
  category: string;
  target: string;
  message: string;
  /** Progress in percent; `null` for an indeterminate bar; `undefined` for no bar. */
  progress: number | null | undefined;
  queuedAt: string;
  duration: string;
}

export function rowView(job: Job, now: number): RowView {
  const progress = percent(job.progress);
  const showBar = job.state === 'running' || (isBusy(job.state) && progress !== null);
  return {
    id: job.id,
    state: job.state,
    badge: STATE_WORDS[job.state] ?? job.state,
    category: job.category,
    target: targetText(job.target),
    message: job.message ?? '',
    progress: showBar ? progress : undefined,
    queuedAt: job.queuedAt,
    duration: formatDuration(jobDuration(job, now)),
  };
}
