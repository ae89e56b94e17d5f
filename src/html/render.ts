import { JobsError } from '../protocol/errors.js';
import {
  DEFAULT_LIMITS,
  JOB_ID_PATTERN,
  JOB_STATES,
  type Job,
  MAX_JOB_ID_LENGTH,
  NAME_CHARACTERS,
  NAME_PATTERN,
} from '../protocol/job.js';
import { tileCss } from './styles.js';
import { DEFAULT_EMPTY_MESSAGE, formatUtc, tileView } from './tile-view.js';

/** Options of {@link renderJobStatus}: the `<job-status>` attributes, in camelCase. */
export interface RenderJobStatusOptions {
  /** The tile's title, e.g. `Push to peer-a`. Required. */
  label: string;
  /** A line under the label saying what the action does. */
  description?: string;
  /** Follow the newest job of this category (the element's `action` attribute). */
  action?: string;
  /** With `target`: follow only jobs whose `target[targetField]` equals `target`. */
  targetField?: string;
  /** The target value to match, e.g. `peer-a`. Needs `targetField`. */
  target?: string;
  /** Shown while there is no job. @default 'No job has run yet.' */
  emptyMessage?: string;
  /**
   * Pin the tile to one job. When neither `action` nor `jobId` is given, a tile rendered with a job is
   * pinned to that job.
   */
  jobId?: string;
  /** Where the element finds the job routes (its `endpoint` attribute). @default the page's `<meta name="realtime-jobs-endpoint">`, else `/api/admin/jobs` */
  endpoint?: string;
  /**
   * Include the tile's stylesheet, so the markup looks the same before the element upgrades (and with
   * JavaScript off). Pass `false` when the page already has it once, from {@link renderJobStatusStyles}.
   * @default true
   */
  styles?: boolean;
}

/** Escapes text for HTML text and double- or single-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(
    /[&<>"']/g,
    (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] as string,
  );
}

function fail(field: string, why: string): never {
  throw new JobsError('invalid_options', `renderJobStatus: \`${field}\` ${why}`, { field });
}

function optionalText(options: RenderJobStatusOptions, field: keyof RenderJobStatusOptions, max: number) {
  const value = options[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') fail(field, 'must be a string');
  if (value.length > max) fail(field, `must be at most ${max} characters`);
  return value;
}

function checkJob(job: unknown): Job | null {
  if (job === null || job === undefined) return null;
  const candidate = job as Partial<Job>;
  if (typeof job !== 'object') fail('job', 'must be a job snapshot or null');
  if (typeof candidate.id !== 'string' || !JOB_ID_PATTERN.test(candidate.id)) fail('job.id', 'must be a job id');
  if (!(JOB_STATES as readonly string[]).includes(candidate.state as string))
    fail('job.state', `must be one of ${JOB_STATES.join(', ')}`);
  if (!Number.isSafeInteger(candidate.version)) fail('job.version', 'must be an integer');
  if (typeof candidate.queuedAt !== 'string') fail('job.queuedAt', 'must be an ISO-8601 string');
  if (typeof candidate.category !== 'string') fail('job.category', 'must be a string');
  return job as Job;
}

/** The tile's stylesheet as a `<style>` element, to put once in the page's `<head>` (then render tiles with `styles: false`). */
export function renderJobStatusStyles(): string {
  return `<style>${tileCss(true)}</style>`;
}

/**
 * A `<job-status>` tile as an HTML string, for any template engine. It reads well without JavaScript
 * (the state in words, absolute UTC times) and the element hydrates it in place when its script loads.
 * Every value is escaped: a job's message is text, never HTML.
 *
 * @throws {JobsError} `invalid_options` naming the field, e.g. a missing `label`.
 * @example
 * renderJobStatus(jobs.list({ category: ['sync-push'], target: { peer: 'peer-a' }, limit: 1 })[0] ?? null, {
 *   label: 'Push to peer-a',
 *   action: 'sync-push',
 *   targetField: 'peer',
 *   target: 'peer-a',
 *   emptyMessage: 'Not pushed yet.',
 * });
 */
export function renderJobStatus(job: Job | null, options: RenderJobStatusOptions): string {
  if (typeof options !== 'object' || options === null) fail('options', 'must be an object with a `label`');
  const checked = checkJob(job);
  const label = optionalText(options, 'label', 200);
  if (!label) fail('label', 'is required: a short title such as "Push to peer-a"');
  const description = optionalText(options, 'description', 1000);
  const emptyMessage = optionalText(options, 'emptyMessage', 1000);
  const endpoint = optionalText(options, 'endpoint', 2000);
  // The tile's filter, checked with the routes' default limits: a typo fails here, not in every request.
  const action = optionalText(options, 'action', DEFAULT_LIMITS.categoryLength);
  if (action !== undefined && !NAME_PATTERN.test(action)) {
    fail('action', `must be a category: 1–${DEFAULT_LIMITS.categoryLength} of ${NAME_CHARACTERS}`);
  }
  const targetField = optionalText(options, 'targetField', DEFAULT_LIMITS.targetKeyLength);
  if (targetField !== undefined && !NAME_PATTERN.test(targetField))
    fail('targetField', `may only hold ${NAME_CHARACTERS}`);
  const target = optionalText(options, 'target', DEFAULT_LIMITS.targetValueLength);
  if ((targetField === undefined) !== (target === undefined)) {
    fail(
      targetField === undefined ? 'targetField' : 'target',
      'must be given together with the other of `targetField` / `target`',
    );
  }
  let jobId = optionalText(options, 'jobId', MAX_JOB_ID_LENGTH);
  if (jobId !== undefined && !JOB_ID_PATTERN.test(jobId)) fail('jobId', 'must be a job id (A–Z a–z 0–9 _ -)');
  if (options.styles !== undefined && typeof options.styles !== 'boolean') fail('styles', 'must be a boolean');
  if (jobId === undefined && action === undefined && checked) jobId = checked.id;

  const view = tileView(checked, emptyMessage ?? DEFAULT_EMPTY_MESSAGE);
  const attributes: Array<[string, string | undefined]> = [
    ['label', label],
    ['state', view.state],
    ['job-id', jobId],
    ['action', action],
    ['target-field', targetField],
    ['target', target],
    ['description', description],
    ['empty-message', emptyMessage],
    ['endpoint', endpoint],
    // The element seeds itself from this snapshot, so it shows the same job before the feed answers.
    ['data-job', checked ? JSON.stringify(checked) : undefined],
  ];
  const attributeText = attributes
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeHtml(value)}"`)
    .join('');

  let body = `<div class="rj-tile"><span class="rj-label">${escapeHtml(label)}</span>`;
  if (description) body += `<span class="rj-description">${escapeHtml(description)}</span>`;
  body += `<div class="rj-status"><span class="rj-badge">${escapeHtml(view.badge)}</span>`;
  if (view.message) body += `<span class="rj-message">${escapeHtml(view.message)}</span>`;
  body += '</div>';
  if (view.progress !== undefined) {
    const value = view.progress === null ? '' : ` value="${view.progress}"`;
    body += `<progress class="rj-progress" max="100"${value} aria-label="Progress"></progress>`;
  }
  if (view.phase || view.times.length > 0) {
    body += '<div class="rj-meta">';
    if (view.phase) body += `<div>Phase: ${escapeHtml(view.phase)}</div>`;
    for (const time of view.times) {
      const text = escapeHtml(formatUtc(time.at));
      body += `<div>${time.label} <time datetime="${escapeHtml(time.at)}" title="${text}">${text}</time></div>`;
    }
    body += '</div>';
  }
  body += '</div>';
  const styles = options.styles === false ? '' : renderJobStatusStyles();
  return `<job-status${attributeText}>${styles}${body}</job-status>`;
}
