import { JOB_ACTIONS, type JobAction, offeredActions } from '../protocol/actions.js';
import { JobsError } from '../protocol/errors.js';
import { JOB_ID_PATTERN, JOB_STATES, type Job } from '../protocol/job.js';
import { listCss } from './list-styles.js';
import {
  ACTION_WORDS,
  actionName,
  checkListQuery,
  type JobListQuery,
  LIST_COLUMNS,
  listQueryString,
  MAX_CURSOR_LENGTH,
  type RowView,
  rowView,
} from './list-view.js';
import { escapeHtml } from './render.js';
import { formatUtc, STATE_WORDS } from './tile-view.js';

/** Options of {@link renderJobList}: the page's filters (the `<job-list>` attributes, in camelCase) and what the list route answered. */
export interface RenderJobListOptions extends JobListQuery {
  /** The table's caption. @default 'Jobs' */
  label?: string;
  /** Where the element finds the job routes. @default the page's `<meta name="realtime-jobs-endpoint">`, else `/api/admin/jobs` */
  endpoint?: string;
  /** The list answer's `next`: the cursor of the older page (an "Older jobs" link), or null on the last page. */
  next?: string | null;
  /**
   * The list answer's `permissions`. Given, the table has an Actions column; its buttons work once the
   * element has upgraded (without JavaScript they show disabled).
   */
  permissions?: Record<string, readonly JobAction[]>;
  /** Include the stylesheet (`false` when the page has {@link renderJobListStyles} once). @default true */
  styles?: boolean;
}

function fail(field: string, why: string): never {
  throw new JobsError('invalid_options', `renderJobList: \`${field}\` ${why}`, { field });
}

function checkJobs(jobs: unknown): Job[] {
  if (!Array.isArray(jobs)) fail('jobs', 'must be an array of job snapshots (newest first)');
  jobs.forEach((job: Partial<Job>, i) => {
    if (typeof job !== 'object' || job === null) fail(`jobs[${i}]`, 'must be a job snapshot');
    if (typeof job.id !== 'string' || !JOB_ID_PATTERN.test(job.id)) fail(`jobs[${i}].id`, 'must be a job id');
    if (!(JOB_STATES as readonly string[]).includes(job.state as string)) {
      fail(`jobs[${i}].state`, `must be one of ${JOB_STATES.join(', ')}`);
    }
    if (typeof job.category !== 'string') fail(`jobs[${i}].category`, 'must be a string');
    if (typeof job.queuedAt !== 'string') fail(`jobs[${i}].queuedAt`, 'must be an ISO-8601 string');
    if (!Number.isSafeInteger(job.version)) fail(`jobs[${i}].version`, 'must be an integer');
  });
  return jobs as Job[];
}

function checkPermissions(permissions: unknown): Record<string, JobAction[]> | undefined {
  if (permissions === undefined) return undefined;
  if (typeof permissions !== 'object' || permissions === null || Array.isArray(permissions)) {
    fail('permissions', 'must be the list answer’s `permissions`: { "<jobId>": ["cancel", …] }');
  }
  for (const [id, actions] of Object.entries(permissions)) {
    if (!Array.isArray(actions) || !actions.every((action) => (JOB_ACTIONS as readonly string[]).includes(action))) {
      fail(`permissions.${id}`, `must be an array of ${JOB_ACTIONS.join(', ')}`);
    }
  }
  return permissions as Record<string, JobAction[]>;
}

/** The list's stylesheet as a `<style>` element, to put once in `<head>` (then render lists with `styles: false`). */
export function renderJobListStyles(): string {
  return `<style>${listCss(true)}</style>`;
}

/**
 * Reads a list's filters and page from a request's query string (`state`, `category`,
 * `target.<targetField>`, `text`, `limit`, `before`): what the server markup's filter form and paging
 * links send back to the page.
 *
 * @throws {JobsError} `invalid_input` naming the parameter; answer 400.
 * @example
 * const query = readJobListQuery(new URL(req.url, 'http://x').searchParams, { targetField: 'peer' });
 */
export function readJobListQuery(params: URLSearchParams, options: { targetField?: string } = {}): JobListQuery {
  const field = options.targetField;
  const target = field ? params.get(`target.${field}`) : null;
  const input: Record<string, unknown> = {
    state: params.get('state'),
    category: params.get('category'),
    targetField: target === null || target === '' ? undefined : field,
    target,
    text: params.get('text'),
    limit: params.get('limit'),
    before: params.get('before'),
  };
  return checkListQuery(input, (name, why) => {
    const param = name === 'target' || name === 'targetField' ? `target.${field ?? '<field>'}` : name;
    throw new JobsError('invalid_input', `\`${param}\` ${why}`, { field: param });
  });
}

/**
 * A UTC time without its ` UTC` (the column heading says it): the same width as the local time the
 * element puts in its place, so the columns, and the rows' heights with them, do not move on upgrade.
 */
function timeCell(iso: string): string {
  const text = escapeHtml(formatUtc(iso));
  return `<td class="rj-when"><time datetime="${escapeHtml(iso)}" title="${text}">${text.replace(/ UTC$/, '')}</time></td>`;
}

function rowHtml(row: RowView, actions: JobAction[] | null): string {
  const progress =
    row.progress === undefined
      ? ''
      : `<progress class="rj-progress" max="100"${row.progress === null ? '' : ` value="${row.progress}"`} aria-label="Progress"></progress>`;
  let html = `<tr data-job-id="${escapeHtml(row.id)}" data-state="${row.state}"><td><span class="rj-badge" data-state="${row.state}">${escapeHtml(row.badge)}</span></td>`;
  html += `<th scope="row">${escapeHtml(row.category)}</th><td class="rj-target">${escapeHtml(row.target)}</td>`;
  html += `<td class="rj-message">${escapeHtml(row.message)}</td><td>${progress}</td>${timeCell(row.queuedAt)}`;
  html += `<td class="rj-when">${escapeHtml(row.duration)}</td>`;
  if (actions) {
    const name = (action: JobAction) => escapeHtml(actionName(action, row.category, row.target));
    html += `<td class="rj-actions">${actions.map((action) => `<button type="button" class="rj-button" disabled aria-label="${name(action)}">${ACTION_WORDS[action]}</button>`).join('')}</td>`;
  }
  return `${html}</tr>`;
}

function filtersHtml(query: JobListQuery): string {
  const states = JOB_STATES.map(
    (state) => `<option value="${state}"${query.state === state ? ' selected' : ''}>${STATE_WORDS[state]}</option>`,
  ).join('');
  const input = (label: string, name: string, value: string | undefined, type = 'text') =>
    `<label>${escapeHtml(label)} <input type="${type}" name="${escapeHtml(name)}" value="${escapeHtml(value ?? '')}"></label>`;
  let html = `<form class="rj-filters" method="get" role="search" aria-label="Filter jobs"><label>State <select name="state"><option value="">Any state</option>${states}</select></label>`;
  html += input('Category', 'category', query.category);
  if (query.targetField) html += input(query.targetField, `target.${query.targetField}`, query.target);
  html += input('Text', 'text', query.text, 'search');
  if (query.limit !== undefined) html += `<input type="hidden" name="limit" value="${query.limit}">`;
  return `${html}<button type="submit" class="rj-button">Filter</button></form>`;
}

/**
 * A `<job-list>` as an HTML string, for any template engine: a filter form, a real table of `jobs`
 * (newest first, as the list route answers) and paging links, all working without JavaScript through
 * query strings the page honours ({@link readJobListQuery}). The element hydrates it in place, then
 * keeps it live. Every value is escaped: text, never HTML.
 *
 * @throws {JobsError} `invalid_options` naming the option, e.g. a `state` that is no state.
 * @example
 * const query = readJobListQuery(url.searchParams, { targetField: 'peer' });
 * const page = await jobsApi.listPage(req); // what `GET {prefix}?…` answers: { jobs, next, permissions }
 * html += renderJobList(page.jobs, { ...query, targetField: 'peer', next: page.next, permissions: page.permissions });
 */
export function renderJobList(jobs: readonly Job[], options: RenderJobListOptions = {}): string {
  if (typeof options !== 'object' || options === null) fail('options', 'must be an object');
  const rows = checkJobs(jobs);
  const query = checkListQuery(options as Record<string, unknown>, fail);
  const label = options.label ?? 'Jobs';
  if (typeof label !== 'string' || label === '' || label.length > 200) fail('label', 'must be 1–200 characters');
  const endpoint = options.endpoint;
  if (endpoint !== undefined && (typeof endpoint !== 'string' || endpoint.length > 2000))
    fail('endpoint', 'must be a URL');
  const next = options.next ?? null;
  if (next !== null && (typeof next !== 'string' || next.length > MAX_CURSOR_LENGTH)) {
    fail('next', 'must be the list answer’s `next` cursor, or null');
  }
  const permissions = checkPermissions(options.permissions);
  if (options.styles !== undefined && typeof options.styles !== 'boolean') fail('styles', 'must be a boolean');

  const page = { jobs: rows, next, ...(permissions ? { permissions } : {}) };
  const attributes: Array<[string, string | number | undefined]> = [
    ['label', options.label],
    ['endpoint', endpoint],
    ['state', query.state],
    ['category', query.category],
    ['target-field', query.targetField],
    ['target', query.target],
    ['text', query.text],
    ['limit', query.limit],
    ['before', query.before],
    // The element seeds itself from the page, so it shows the same rows before it asks the routes.
    ['data-page', JSON.stringify(page)],
  ];
  const attributeText = attributes
    .filter((entry): entry is [string, string | number] => entry[1] !== undefined)
    .map(([name, value]) => ` ${name}="${escapeHtml(String(value))}"`)
    .join('');

  const now = Date.now();
  const columns = [...LIST_COLUMNS, ...(permissions ? ['Actions'] : [])];
  const filtered = Boolean(query.state || query.category || query.target || query.text);
  let body = `<div class="rj-list">${filtersHtml(query)}<table class="rj-table"><caption>${escapeHtml(label)}</caption><thead><tr>`;
  body += columns.map((column) => `<th scope="col">${column === 'Queued' ? 'Queued (UTC)' : column}</th>`).join('');
  body += '</tr></thead><tbody>';
  body += rows.length
    ? rows
        .map((job) => rowHtml(rowView(job, now), permissions ? offeredActions(job, permissions[job.id]) : null))
        .join('')
    : `<tr><td class="rj-empty rj-muted" colspan="${columns.length}">${filtered ? 'No jobs match these filters.' : 'No jobs yet.'}</td></tr>`;
  body += '</tbody></table>';
  const links: string[] = [];
  if (query.before)
    links.push(`<a href="?${escapeHtml(listQueryString({ ...query, before: undefined }))}">Newest jobs</a>`);
  if (next) links.push(`<a href="?${escapeHtml(listQueryString({ ...query, before: next }))}">Older jobs</a>`);
  if (links.length) body += `<nav class="rj-pages" aria-label="Pages">${links.join('')}</nav>`;
  body += '</div>';
  const styles = options.styles === false ? '' : renderJobListStyles();
  return `<job-list${attributeText}>${styles}${body}</job-list>`;
}
