import { html, nothing, type TemplateResult } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import {
  ACTION_WORDS,
  actionName,
  formatLocal,
  type JobListQuery,
  LIST_COLUMNS,
  listQueryString,
  rowView,
} from '../../html/list-view.js';
import { formatUtc, STATE_WORDS } from '../../html/tile-view.js';
import { type JobAction, offeredActions } from '../../protocol/actions.js';
import { JOB_STATES, type Job } from '../../protocol/job.js';

/** Everything the table shows, as the element holds it. */
export interface ListView {
  label: string;
  query: JobListQuery;
  rows: readonly Job[];
  /** What may be done to each job; null when the routes offer no actions (no Actions column). */
  permissions: ReadonlyMap<string, readonly JobAction[]> | null;
  /** Jobs with an action in flight. */
  busy: ReadonlySet<string>;
  /** The last failed action's words, per job. */
  actionErrors: ReadonlyMap<string, string>;
  /** The open detail's job id, and its row. */
  openId: string | null;
  detail: (job: Job, columns: number) => TemplateResult | typeof nothing;
  next: string | null;
  loading: boolean;
  /** A bad attribute, or a page that did not load: shown as text. */
  error: string;
  /** How updates arrive, while they are not live. */
  notice: string;
  announcement: string;
  now: number;
}

/** What the table's controls do. */
export interface ListHandlers {
  filter(event: SubmitEvent): void;
  toggle(id: string): void;
  act(job: Job, action: JobAction): void;
  older(): void;
  newest(event: Event): void;
  /** Escape anywhere in the table closes the open detail. */
  keydown(event: KeyboardEvent): void;
}

function filters(query: JobListQuery, on: ListHandlers): TemplateResult {
  const input = (label: string, name: string, value: string | undefined, type = 'text') =>
    html`<label>${label} <input type=${type} name=${name} .value=${value ?? ''}></label>`;
  return html`<form part="filters" class="rj-filters" method="get" role="search" aria-label="Filter jobs" @submit=${on.filter}><label>State <select name="state"><option value="" ?selected=${!query.state}>Any state</option>${JOB_STATES.map(
    (state) => html`<option value=${state} ?selected=${query.state === state}>${STATE_WORDS[state]}</option>`,
  )}</select></label>${input('Category', 'category', query.category)}${
    query.targetField ? input(query.targetField, `target.${query.targetField}`, query.target) : nothing
  }${input('Text', 'text', query.text, 'search')}<button type="submit" part="button" class="rj-button">Filter</button></form>`;
}

function row(view: ListView, job: Job, on: ListHandlers, columns: number): TemplateResult {
  const r = rowView(job, view.now);
  const open = view.openId === job.id;
  const busy = view.busy.has(job.id);
  const error = view.actionErrors.get(job.id);
  const actions = view.permissions ? offeredActions(job, view.permissions.get(job.id)) : null;
  return html`<tr part=${`row row-${r.state}`} data-job-id=${job.id} data-state=${r.state}><td><span part="badge" class="rj-badge" data-state=${r.state}>${r.badge}</span></td><th scope="row"><button type="button" part="toggle" class="rj-toggle" aria-expanded=${open ? 'true' : 'false'} aria-controls=${open ? `rj-detail-${job.id}` : nothing} @click=${() => on.toggle(job.id)}>${r.category}</button></th><td class="rj-target">${r.target}</td><td part="message" class="rj-message">${r.message}</td><td>${
    r.progress === undefined
      ? nothing
      : html`<progress part="progress" class="rj-progress" max="100" value=${r.progress ?? nothing} aria-label="Progress"></progress>`
  }</td><td class="rj-when"><time datetime=${r.queuedAt} title=${formatUtc(r.queuedAt)}>${formatLocal(r.queuedAt)}</time></td><td class="rj-when">${r.duration}</td>${
    actions
      ? html`<td part="actions" class="rj-actions" aria-busy=${busy ? 'true' : nothing}>${repeat(
          actions,
          // Keyed: a focused Cancel button must not turn into the Retry button of the same place.
          (action) => action,
          (action) =>
            html`<button type="button" part="action" class="rj-button" data-action=${action} ?disabled=${busy} aria-label=${actionName(action, r.category, r.target)} @click=${() => on.act(job, action)}>${ACTION_WORDS[action]}</button>`,
        )}${error ? html`<span part="action-error" class="rj-error" role="alert">${error}</span>` : nothing}</td>`
      : nothing
  }</tr>${open ? view.detail(job, columns) : nothing}`;
}

/** The element's shadow content: the same structure as `renderJobList()`, with parts, controls and live rows. */
export function renderList(view: ListView, on: ListHandlers): TemplateResult {
  const { query } = view;
  const columns = LIST_COLUMNS.length + (view.permissions ? 1 : 0);
  const filtered = Boolean(query.state || query.category || query.target || query.text);
  const empty = view.loading ? 'Loading jobs…' : filtered ? 'No jobs match these filters.' : 'No jobs yet.';
  const newest = query.before ? listQueryString({ ...query, before: undefined }) : null;
  return html`<div part="base" class="rj-list">${filters(query, on)}${
    view.error ? html`<p part="error" class="rj-error" role="alert">${view.error}</p>` : nothing
  }<table part="table" class="rj-table" aria-busy=${view.loading ? 'true' : 'false'} @keydown=${on.keydown}><caption part="caption">${view.label}</caption><thead><tr>${[
    ...LIST_COLUMNS,
    ...(view.permissions ? ['Actions'] : []),
  ].map((column) => html`<th scope="col">${column}</th>`)}</tr></thead><tbody>${
    view.rows.length
      ? repeat(
          view.rows,
          (job) => job.id,
          (job) => row(view, job, on, columns),
        )
      : html`<tr><td class="rj-empty rj-muted" colspan=${columns}>${empty}</td></tr>`
  }</tbody></table>${
    newest !== null || view.next
      ? html`<nav part="pages" class="rj-pages" aria-label="Pages">${
          newest !== null ? html`<a href=${`?${newest}`} @click=${on.newest}>Newest jobs</a>` : nothing
        }${
          view.next
            ? html`<button type="button" part="older" class="rj-toggle" ?disabled=${view.loading} @click=${on.older}>Older jobs</button>`
            : nothing
        }</nav>`
      : nothing
  }${view.notice ? html`<p part="connection" class="rj-notice">${view.notice}</p>` : nothing}<div part="announcer" class="rj-sr" role="status" aria-live="polite">${view.announcement}</div></div>`;
}
