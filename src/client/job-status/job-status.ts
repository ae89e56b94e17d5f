import { html, LitElement, nothing, type PropertyValues } from 'lit';
import { DEFAULT_EMPTY_MESSAGE, type TileState, tileView } from '../../html/tile-view.js';
import { type Job, replacesShownJob } from '../../protocol/job.js';
import type { JobFeedConnection, JobFeedFilter } from '../feed/index.js';
import { followFeed, pageEndpoint } from '../shared.js';
import { jobStatusStyles } from './job-status.styles.js';

/** Detail of the `job-change` event. */
export interface JobChangeDetail {
  /** The job the tile shows now. */
  job: Job;
  /** What it showed before: the same job's older version, another job, or null. */
  previous: Job | null;
}

/** Fired by `<job-status>` whenever the job it shows changes. Bubbles and crosses shadow roots. */
export type JobChangeEvent = CustomEvent<JobChangeDetail>;

const relative =
  typeof Intl.RelativeTimeFormat === 'function' ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }) : null;
const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const UNITS: Array<[Intl.RelativeTimeFormatUnit, number]> = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 365],
];

/** The reader's local time; a time that is no date (from a broken server) as it came, rather than a thrown render. */
function local(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : absolute.format(date);
}

/** `5 minutes ago`, in the reader's language. */
function ago(iso: string, now: number): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time) || !relative) return iso;
  let value = (time - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(value) < size || unit === 'day') return relative.format(Math.round(value), unit);
    value /= size;
  }
  return iso;
}

/** One timer for every tile on the page keeps relative times fresh. */
const ticking = new Set<JobStatusElement>();
let ticker: ReturnType<typeof setInterval> | undefined;
function tick(element: JobStatusElement, on: boolean): void {
  if (on) ticking.add(element);
  else ticking.delete(element);
  if (ticking.size > 0 && !ticker) {
    ticker = setInterval(() => {
      for (const tile of ticking) tile.requestUpdate();
    }, 15_000);
  } else if (ticking.size === 0 && ticker) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/**
 * Shows one job live: its state as a badge and in words, its message, phase, progress and times.
 * Put the markup of `renderJobStatus()` inside it and it takes over in place; without JavaScript that
 * markup still reads well.
 *
 * @summary A live tile for one job, or for the newest job of an action on a target.
 * @tag job-status
 *
 * @attr job-id - Pin the tile to this job.
 * @attr action - Follow the newest job of this category (by `queuedAt`), e.g. `sync-push`.
 * @attr target-field - With `target`: follow only jobs whose `target[target-field]` is `target`.
 * @attr target - The target value to match, e.g. `peer-a`.
 * @attr label - The tile's title.
 * @attr description - A line under the title.
 * @attr empty-message - Shown while there is no job.
 * @attr endpoint - The job routes' URL; default: `<meta name="realtime-jobs-endpoint">`, else `/api/admin/jobs`.
 * @attr state - Reflects the job's state: `idle` (no job), `queued`, `pending`, `running`, `success`, `warning`, `error`, `cancelled`.
 * @attr connection - Reflects whether changes reach the tile: `live` (a stream), `polling` (the stream is down; the list is polled), `offline` (nothing reaches the server, or it refused the page).
 *
 * @fires {JobChangeEvent} job-change - The job shown changed (a new version, or a newer job). Bubbles, composed.
 *
 * @csspart base - The tile's inner box.
 * @csspart label - The title.
 * @csspart description - The line under the title.
 * @csspart status - The live region holding badge and message.
 * @csspart badge - The state in words.
 * @csspart message - The job's message (or the empty message).
 * @csspart progress - The progress bar (a `<progress>`; indeterminate without a value).
 * @csspart meta - Phase and times.
 * @csspart phase - The phase line.
 * @csspart time - One time line (queued, started, finished).
 * @csspart connection - Shown only while the tile is not live: "Live updates paused; checking every 3 s", "Offline; retrying" or "Live updates stopped".
 *
 * @cssproperty --job-status-background - Tile background. Default `#fff`.
 * @cssproperty --job-status-color - Text color. Default inherited.
 * @cssproperty --job-status-muted-color - Description and times. Default `#57606a`.
 * @cssproperty --job-status-border - Tile border. Default `1px solid #d0d7de`.
 * @cssproperty --job-status-radius - Corner radius. Default `8px`.
 * @cssproperty --job-status-padding - Inner spacing. Default `12px 14px`.
 * @cssproperty --job-status-font - Font family. Default inherited.
 * @cssproperty --job-status-track-color - Progress track. Default `#eaeef2`.
 * @cssproperty --job-status-bar-color - Progress bar. Default `#0969da`.
 * @cssproperty --job-status-idle-background - Badge background when idle or cancelled (also `-color` for its text; likewise `waiting` for queued/pending, `running`, `success`, `warning`, `error`).
 */
export class JobStatusElement extends LitElement {
  static override styles = jobStatusStyles;
  static override properties = {
    jobId: { attribute: 'job-id', reflect: true },
    action: { reflect: true },
    targetField: { attribute: 'target-field', reflect: true },
    target: { reflect: true },
    label: {},
    description: {},
    emptyMessage: { attribute: 'empty-message' },
    endpoint: {},
    state: { reflect: true },
    connection: { reflect: true },
    job: { attribute: false },
  };

  /** Pin the tile to this job. */
  declare jobId: string | undefined;
  /** Follow the newest job of this category. */
  declare action: string | undefined;
  /** The target field to match, with {@link target}. */
  declare targetField: string | undefined;
  /** The target value to match. */
  declare target: string | undefined;
  /** The tile's title. */
  declare label: string | undefined;
  /** A line under the title. */
  declare description: string | undefined;
  /** Shown while there is no job. */
  declare emptyMessage: string | undefined;
  /** The job routes' URL. */
  declare endpoint: string | undefined;
  /** The job's state, or `idle`. Set by the element; reflected to the `state` attribute. */
  declare state: TileState;
  /** Whether changes reach the tile: `live`, `polling` or `offline`. Set by the element; reflected. */
  declare connection: JobFeedConnection;
  /** The job shown, or null. */
  declare job: Job | null;

  #off: (() => void) | null = null;
  #subscribedTo = '';
  /** The connection part's words; empty while live. */
  #notice = '';

  constructor() {
    super();
    this.state = 'idle';
    this.connection = 'live';
    this.job = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    if (!this.job && this.dataset.job) {
      try {
        // The server's snapshot seeds the tile so it shows the same job before the feed answers.
        this.#accept(JSON.parse(this.dataset.job), false);
      } catch {
        // A broken seed: the feed fills the tile in.
      }
    }
    if (!this.job) this.state = 'idle';
    tick(this, true);
    this.#subscribe();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    tick(this, false);
    this.#off?.();
    this.#off = null;
    this.#subscribedTo = '';
  }

  protected override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('jobId') || changed.has('action') || changed.has('targetField') || changed.has('target')) {
      if (this.job && !this.#wants(this.job)) {
        this.job = null;
        this.state = 'idle';
      }
    }
    if (this.isConnected) this.#subscribe();
  }

  #filter(): JobFeedFilter | null {
    if (this.jobId) return { jobId: this.jobId };
    if (!this.action) return this.job ? { jobId: this.job.id } : null;
    const filter: JobFeedFilter = { category: this.action };
    if (this.targetField && this.target !== undefined) filter.target = { [this.targetField]: this.target };
    return filter;
  }

  #wants(job: Job): boolean {
    const filter = this.#filter();
    if (!filter) return false;
    if (filter.jobId) return job.id === filter.jobId;
    return job.category === this.action && (!filter.target || job.target?.[this.targetField as string] === this.target);
  }

  #subscribe(): void {
    const filter = this.#filter();
    const url = this.endpoint || pageEndpoint();
    const key = filter ? `${url} ${JSON.stringify(filter)}` : '';
    if (key === this.#subscribedTo) return;
    this.#off?.();
    this.#off = null;
    this.#subscribedTo = key;
    // Not following any feed says nothing about one; a new feed says where it stands at once.
    this.connection = 'live';
    this.#notice = '';
    if (!filter) return;
    try {
      this.#off = followFeed(
        url,
        filter,
        (job) => this.#accept(job, true),
        (connection, notice) => {
          this.connection = connection;
          this.#notice = notice;
          this.requestUpdate();
        },
      );
    } catch (error) {
      console.error(`<job-status>: ${(error as Error).message}`);
    }
  }

  /** Takes a job if it is the one to show: the pinned job, or the newest matching one by `queuedAt`. */
  #accept(job: Job, announce: boolean): void {
    const current = this.job;
    if (this.jobId && current && current.id !== job.id) return;
    if (!replacesShownJob(job, current)) return;
    if (announce && !this.#wants(job)) return;
    this.job = job;
    this.state = job.state;
    if (announce) {
      this.dispatchEvent(
        new CustomEvent<JobChangeDetail>('job-change', {
          detail: { job, previous: current },
          bubbles: true,
          composed: true,
        }),
      );
    }
  }

  protected override render() {
    const view = tileView(this.job, this.emptyMessage ?? DEFAULT_EMPTY_MESSAGE);
    const now = Date.now();
    return html`<div part="base" class="rj-tile"><span part="label" class="rj-label">${this.label ?? this.job?.category ?? 'Job'}</span>${
      this.description ? html`<span part="description" class="rj-description">${this.description}</span>` : nothing
    }<div part="status" class="rj-status" role="status" aria-live="polite" aria-atomic="true"><span part="badge" class="rj-badge">${view.badge}</span>${
      view.message ? html`<span part="message" class="rj-message">${view.message}</span>` : nothing
    }</div>${
      view.progress === undefined
        ? nothing
        : html`<progress part="progress" class="rj-progress" max="100" value=${view.progress ?? nothing} aria-label="Progress"></progress>`
    }${
      view.phase || view.times.length
        ? html`<div part="meta" class="rj-meta">${view.phase ? html`<div part="phase">Phase: ${view.phase}</div>` : nothing}${view.times.map(
            (time) =>
              html`<div part="time">${time.label} <time datetime=${time.at} title=${local(time.at)}>${ago(time.at, now)}</time></div>`,
          )}</div>`
        : nothing
    }${this.#notice ? html`<div part="connection" class="rj-connection">${this.#notice}</div>` : nothing}</div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'job-status': JobStatusElement;
  }
  interface GlobalEventHandlersEventMap {
    'job-change': JobChangeEvent;
  }
}
