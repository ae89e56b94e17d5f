import { html, nothing, type TemplateResult } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { formatLocal } from '../../html/list-view.js';
import { formatUtc } from '../../html/tile-view.js';
import type { JobAction } from '../../protocol/actions.js';
import type { Job, LogLine } from '../../protocol/job.js';
import type { ListHost } from './actions.js';
import type { JobsApi } from './api.js';
import { followJobLog, type LogFollowState } from './log-follower.js';
import { mergeLines } from './rows.js';

/** What a detail tells the list that opened it. */
export interface DetailListener {
  /** Something shown changed: render again. */
  change(): void;
  /** A newer version of the job (from the detail route or the detail's stream). */
  job(job: Job): void;
  /** What the detail route says may be done to the job. */
  permissions(id: string, actions: JobAction[]): void;
}

/**
 * One open detail: the job's detail route once, and a follower of its log lines (a `logs=1` stream of
 * this job only, beside the page's shared feed) while the detail stays open. `close()` stops it.
 */
export class JobDetail {
  readonly id: string;
  lines: LogLine[] = [];
  loaded = false;
  error = '';
  /** Whether new lines arrive: `live`, `reconnecting` (the stream is retried), `stopped` (refused). */
  follow: LogFollowState = 'live';
  /** The log is scrolled to its end, so new lines keep it there. */
  stick = true;
  #closed = false;
  readonly #stop: () => void;

  constructor(id: string, api: JobsApi, on: DetailListener) {
    this.id = id;
    this.#stop = followJobLog(api.url, id, {
      lines: (lines) => {
        this.lines = mergeLines(this.lines, lines);
        on.change();
      },
      job: (job) => on.job(job),
      state: (state) => {
        this.follow = state;
        on.change();
      },
    });
    api.detail(id).then(
      (answer) => {
        if (this.#closed) return;
        this.lines = mergeLines(this.lines, Array.isArray(answer.log) ? answer.log : []);
        if (answer.job?.id === id) on.job(answer.job);
        if (Array.isArray(answer.permissions)) on.permissions(id, answer.permissions);
        this.loaded = true;
        on.change();
      },
      (error: Error) => {
        if (this.#closed) return;
        this.loaded = true;
        this.error = error.message;
        on.change();
      },
    );
  }

  close(): void {
    this.#closed = true;
    this.#stop();
  }
}

const json = (value: unknown) => JSON.stringify(value, null, 2);

/**
 * The detail row under a job's row: input, result, error, the job it retries, and the log. `show`
 * opens another job of the list (the one retried), or is null when it is not on the page.
 */
export function renderDetail(
  detail: JobDetail,
  job: Job,
  columns: number,
  on: { show: ((id: string) => void) | null; scroll(event: Event): void },
): TemplateResult {
  const id = `rj-detail-${job.id}`;
  const { error } = job;
  return html`<tr class="rj-detail" part="detail-row" id=${id}><td colspan=${columns}>
<div part="detail" role="group" aria-label=${`Details of ${job.category}`}>
${detail.loaded ? nothing : html`<p class="rj-muted">Loading details…</p>`}
${detail.error ? html`<p class="rj-error" role="alert">Could not load the details: ${detail.error}</p>` : nothing}
<dl>
<dt>Job</dt><dd><code>${job.id}</code></dd>
<dt>Attempt</dt><dd>${job.attempt} of ${job.maxAttempts}</dd>
${
  job.retryOf
    ? html`<dt>Retry of</dt><dd>${
        on.show
          ? html`<button type="button" class="rj-toggle" @click=${() => on.show?.(job.retryOf as string)}>${job.retryOf}</button>`
          : html`<code>${job.retryOf}</code> (not on this page)`
      }</dd>`
    : nothing
}
<dt>Input</dt><dd><pre part="data">${json(job.data)}</pre></dd>
${job.result ? html`<dt>Result</dt><dd><pre part="result">${json(job.result)}</pre></dd>` : nothing}
${
  error
    ? html`<dt>Error</dt><dd part="job-error"><code>${error.code}</code> <bdi>${error.message}</bdi> (attempt ${error.attempt} of ${job.maxAttempts})</dd>`
    : nothing
}
</dl>
<div class="rj-log-title" id=${`${id}-log`}>Log</div>
${
  detail.lines.length
    ? html`<ol class="rj-log" part="log" tabindex="0" aria-labelledby=${`${id}-log`} @scroll=${on.scroll}>${repeat(
        detail.lines,
        (line) => line.seq,
        (line) =>
          html`<li data-level=${line.level}><time datetime=${line.at} title=${formatUtc(line.at)}>${formatLocal(line.at).slice(11)}</time> ${line.level} ${line.text}</li>`,
      )}</ol>`
    : html`<p class="rj-muted">${detail.loaded ? 'No log lines.' : ''}</p>`
}
${
  detail.follow === 'live'
    ? nothing
    : html`<p class="rj-notice">${detail.follow === 'stopped' ? 'Live log stopped' : 'Live log paused; reconnecting…'}</p>`
}
</div></td></tr>`;
}

/**
 * The list's one open detail: opens and closes it (a disclosure under the job's row; opening another
 * closes the first, so one log stream at most), closes it on Escape, follows the retry link, and keeps
 * the log scrolled to its end while the reader has not scrolled up.
 */
export class DetailController {
  open: JobDetail | null = null;
  readonly #host: ListHost;

  constructor(host: ListHost) {
    this.#host = host;
  }

  toggle(id: string): void {
    const host = this.#host;
    const wasOpen = this.open?.id === id;
    this.open?.close();
    this.open = wasOpen
      ? null
      : new JobDetail(id, host.api, {
          change: () => host.changed(),
          job: (job) => host.model.add(job),
          permissions: (jobId, actions) => host.model.setPermissions(jobId, actions),
        });
    host.changed();
  }

  close(): void {
    this.open?.close();
    this.open = null;
  }

  /** Escape anywhere in the table closes the open detail and puts the focus on its toggle. */
  keydown(event: KeyboardEvent): void {
    const id = this.open?.id;
    if (event.key !== 'Escape' || !id) return;
    this.toggle(id);
    this.#host.focusRow(id);
  }

  /** After a render: the log stays at its end while the reader has not scrolled it up. */
  updated(root: ParentNode): void {
    const log = root.querySelector('.rj-log');
    if (log && this.open?.stick) log.scrollTop = log.scrollHeight;
  }

  render(job: Job, columns: number): TemplateResult | typeof nothing {
    const detail = this.open;
    if (!detail) return nothing;
    const retried = this.#host.model.rows.some((row) => row.id === job.retryOf);
    return renderDetail(detail, job, columns, {
      show: retried
        ? (id) => {
            if (this.open?.id !== id) this.toggle(id);
            this.#host.focusRow(id);
          }
        : null,
      scroll: (event) => {
        const log = event.target as HTMLElement;
        detail.stick = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      },
    });
  }
}
