import type { JobListQuery } from '../../html/list-view.js';
import type { Job, LogLine } from '../../protocol/job.js';

/**
 * The rows of a job list, newest first: how a page, a live job and log lines join what is shown. Pure
 * functions, so the rules (no duplicate, nothing missed, nobody's place lost) are tested on their own.
 */

/** Whether `a` comes before `b` in the routes' page order: newer `queuedAt` first, then the greater id. */
function comesBefore(a: Job, b: Job): boolean {
  const at = Date.parse(a.queuedAt);
  const bt = Date.parse(b.queuedAt);
  return at !== bt ? at > bt : a.id > b.id;
}

/**
 * Appends an older page to the rows. A job already shown (it moved between pages while the user read,
 * or arrived live) stays where it is, in its newer version.
 */
export function appendPage(rows: readonly Job[], page: readonly Job[]): Job[] {
  const result = [...rows];
  const at = new Map(result.map((job, i) => [job.id, i]));
  for (const job of page) {
    const i = at.get(job.id);
    if (i === undefined) {
      at.set(job.id, result.length);
      result.push(job);
    } else if (job.version > (result[i] as Job).version) {
      result[i] = job;
    }
  }
  return result;
}

/**
 * Where a job that is not shown belongs: the index to insert it at, keeping the rows in the routes'
 * page order (newest `queuedAt` first, then the greater id), or -1 when it comes after every row and
 * older pages are still to load (it arrives with them; inserting it now would show it twice).
 */
export function placeOf(rows: readonly Job[], job: Job, complete: boolean): number {
  const i = rows.findIndex((row) => comesBefore(job, row));
  if (i >= 0) return i;
  return complete ? rows.length : -1;
}

/** Replaces a shown job with a newer version of it; the same array when nothing changed. */
export function replaceRow(rows: readonly Job[], job: Job): { rows: readonly Job[]; previous: Job | null } {
  const i = rows.findIndex((row) => row.id === job.id);
  const previous = rows[i];
  if (!previous || job.version <= previous.version) return { rows, previous: null };
  const next = [...rows];
  next[i] = job;
  return { rows: next, previous };
}

/**
 * Whether a job matches the list's filters as far as the browser can tell: state, category and target.
 * `text` is the server's to judge (it answers whether a job matches).
 */
export function matchesQuery(job: Job, query: JobListQuery): boolean {
  return (
    (!query.state || job.state === query.state) &&
    (!query.category || job.category === query.category) &&
    (!query.targetField || query.target === undefined || job.target?.[query.targetField] === query.target)
  );
}

/** Log lines shown at most in a detail; the oldest go first. */
export const MAX_LOG_LINES = 1000;

/** Joins log lines by `seq` (a snapshot after a reconnect repeats lines already held), oldest first. */
export function mergeLines(held: readonly LogLine[], incoming: readonly unknown[]): LogLine[] {
  const bySeq = new Map(held.map((line) => [line.seq, line]));
  for (const line of incoming) if (isLogLine(line)) bySeq.set(line.seq, line);
  const lines = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  return lines.length > MAX_LOG_LINES ? lines.slice(-MAX_LOG_LINES) : lines;
}

function isLogLine(value: unknown): value is LogLine {
  const line = value as LogLine;
  return (
    typeof line === 'object' &&
    line !== null &&
    Number.isSafeInteger(line.seq) &&
    typeof line.text === 'string' &&
    typeof line.at === 'string' &&
    typeof line.level === 'string'
  );
}
