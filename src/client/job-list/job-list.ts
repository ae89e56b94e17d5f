import { LitElement, unsafeCSS } from 'lit';
import { listCss } from '../../html/list-styles.js';
import { checkListQuery, type JobListQuery } from '../../html/list-view.js';
import type { JobListAnswer } from '../../protocol/actions.js';
import { JobsError } from '../../protocol/errors.js';
import { isBusy, type Job } from '../../protocol/job.js';
import type { JobFeedConnection, JobFeedFilter } from '../feed/index.js';
import { DEFAULT_ENDPOINT, followFeed, pageEndpoint } from '../shared.js';
import { type JobActionDetail, type JobActionResultDetail, ListActions, type ListHost } from './actions.js';
import { holdScroll } from './anchor.js';
import { Announcer } from './announcer.js';
import { JobsApi } from './api.js';
import { DetailController } from './detail.js';
import { ListModel } from './model.js';
import { type ListHandlers, renderList } from './render.js';

export type { JobActionDetail, JobActionResultDetail };

const ATTRIBUTES: Record<string, string> = { targetField: 'target-field' };

/**
 * A live table of jobs: filters, pages from the list route, rows that follow the shared feed, a
 * detail per job with its live log, and the actions the server allows. Put the markup of
 * `renderJobList()` inside it and it takes over in place; without JavaScript that markup is a working
 * table with paging links.
 *
 * @summary A live, filterable table of jobs with details, logs and actions.
 * @tag job-list
 *
 * @attr label - The table's caption. Default `Jobs`.
 * @attr endpoint - The job routes' URL; default: `<meta name="realtime-jobs-endpoint">`, else `/api/admin/jobs`.
 * @attr state - Only jobs in this state (`queued`, `pending`, `running`, `success`, `warning`, `error`, `cancelled`).
 * @attr category - Only jobs of this category.
 * @attr target-field - The target field the filter form offers (e.g. `peer`); with `target`, only jobs whose `target[target-field]` is `target`.
 * @attr target - The target value to match.
 * @attr text - Free text the server looks for in the jobs.
 * @attr limit - Jobs per page, 1–500. Default: the list route's (50).
 * @attr before - Start at this page cursor (a list answer's `next`): an older page, which new jobs do not join.
 * @attr connection - Reflects whether changes reach the list: `live`, `polling` or `offline`.
 *
 * @fires {CustomEvent<JobActionDetail>} job-action - Before an action is sent. Cancelable; set `detail.message` to send a reason with `reject`. Bubbles, composed.
 * @fires {CustomEvent<JobActionResultDetail>} job-action-result - After an action: the job answered, or the error. Bubbles, composed.
 *
 * @csspart base - The list's inner box.
 * @csspart filters - The filter form.
 * @csspart button - The filter form's submit button.
 * @csspart error - A bad attribute or a page that did not load, as text.
 * @csspart table - The `<table>`.
 * @csspart caption - Its caption.
 * @csspart row - One job's row; also `row-<state>` (`row-error`, `row-running`, …) to style rows by state.
 * @csspart badge - The state in words.
 * @csspart toggle - The button that opens and closes a job's detail (the category).
 * @csspart message - The job's message.
 * @csspart progress - The progress bar of a busy job.
 * @csspart actions - The cell of a row's action buttons.
 * @csspart action - One action button (`data-action` says which).
 * @csspart action-error - Why the last action on the row failed.
 * @csspart detail-row - The row under a job that holds its detail.
 * @csspart detail - The detail: input, result, error, retry link, log.
 * @csspart data - The job's input, as JSON.
 * @csspart result - The job's result, as JSON.
 * @csspart job-error - The job's error: code, message, attempt.
 * @csspart log - The log lines.
 * @csspart pages - The paging controls ("Newest jobs", "Older jobs").
 * @csspart older - The "Older jobs" button.
 * @csspart connection - Shown only while changes do not arrive live.
 * @csspart announcer - The polite live region (visually hidden).
 *
 * @cssproperty --job-list-color - Text color. Default inherited.
 * @cssproperty --job-list-background - Background. Default transparent.
 * @cssproperty --job-list-font - Font family. Default inherited.
 * @cssproperty --job-list-muted-color - Labels, empty and loading text, notices. Default `#57606a`.
 * @cssproperty --job-list-border-color - Cell and control borders. Default `#d0d7de`.
 * @cssproperty --job-list-header-background - Column headings. Default `#f6f8fa`.
 * @cssproperty --job-list-button-background - Buttons. Default `#f6f8fa`.
 * @cssproperty --job-list-input-background - Filter inputs. Default `#fff`.
 * @cssproperty --job-list-link-color - Detail toggles and paging. Default `#0969da`.
 * @cssproperty --job-list-focus-color - The focus ring. Default `#0969da`.
 * @cssproperty --job-list-error-color - Errors and error log lines. Default `#a40e26`.
 * @cssproperty --job-list-detail-background - The open detail. Default `#f6f8fa`.
 * @cssproperty --job-status-running-background - State badges share `<job-status>`'s colours: `--job-status-{idle,waiting,running,success,warning,error}-{background,color}`.
 */
export class JobListElement extends LitElement implements ListHost {
  static override styles = unsafeCSS(listCss(false));
  static override properties = {
    label: {},
    endpoint: {},
    state: {},
    category: {},
    targetField: { attribute: 'target-field' },
    target: {},
    text: {},
    limit: { type: Number },
    cursor: { attribute: 'before' },
    connection: { reflect: true },
  };

  declare label: string | undefined;
  declare endpoint: string | undefined;
  declare state: string | undefined;
  declare category: string | undefined;
  declare targetField: string | undefined;
  declare target: string | undefined;
  declare text: string | undefined;
  declare limit: number | undefined;
  /** The page cursor the list starts at (attribute `before`): an older page, which new jobs do not join. */
  declare cursor: string | undefined;
  /** Whether changes reach the list: `live`, `polling` or `offline`. Set by the element; reflected. */
  declare connection: JobFeedConnection;

  /** @internal The checked filters and page. */
  query: JobListQuery = {};
  /** @internal The routes; `#read()` moves it to the element's endpoint (and reports a bad one). */
  api = new JobsApi(DEFAULT_ENDPOINT);
  /** @internal */
  readonly model = new ListModel(this);
  /** @internal */
  readonly element = this;
  /** The key of the page the attributes ask for, of the page shown, of the page loading. */
  #key = '';
  #shown = '';
  #loading = '';
  #error = '';
  readonly #announcer = new Announcer(() => this.requestUpdate());
  readonly #actions = new ListActions(this);
  readonly #details = new DetailController(this);
  #notice = '';
  #watching = '';
  #off: (() => void) | null = null;
  #ticker: ReturnType<typeof setInterval> | undefined;
  /** Rows rendered last time, and what puts the page back after rows were added. */
  #rendered = 0;
  #restoreScroll: (() => void) | null = null;

  constructor() {
    super();
    this.connection = 'live';
  }

  /** The rows shown, newest first. */
  get jobs(): readonly Job[] {
    return this.model.rows;
  }

  /** @internal */
  changed(): void {
    this.requestUpdate();
  }

  /** @internal Tells a screen reader, briefly (rate-limited). */
  announce(key: string, text: string): void {
    this.#announcer.say(key, text);
  }

  /** @internal */
  focusRow(id: string): void {
    void this.updateComplete.then(() =>
      this.renderRoot.querySelector<HTMLElement>(`tr[data-job-id="${CSS.escape(id)}"] .rj-toggle`)?.focus(),
    );
  }

  override connectedCallback(): void {
    super.connectedCallback();
    // Moved in the page (disconnected, connected again): follow the feed again at the next render.
    if (this.hasUpdated) this.requestUpdate();
    this.#read();
    if (!this.#shown && this.#key && this.dataset.page) {
      try {
        // The server's page seeds the rows, so they show before the routes answer.
        this.model.take(JSON.parse(this.dataset.page) as JobListAnswer, false);
        this.#shown = this.#key;
      } catch {
        // A broken seed: the element asks the routes instead.
      }
    }
    this.#ticker = setInterval(() => {
      if (this.model.rows.some((job) => isBusy(job.state) && job.startedAt)) this.requestUpdate();
    }, 1000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.#ticker);
    this.#off?.();
    this.#off = null;
    this.#watching = '';
    this.#details.close();
    this.#announcer.stop();
    this.model.stop();
  }

  protected override willUpdate(): void {
    if (this.model.rows.length > this.#rendered && this.hasUpdated) this.#restoreScroll = holdScroll(this.renderRoot);
    this.#rendered = this.model.rows.length;
    this.#read();
    if (!this.isConnected || !this.#key) return;
    if (this.#key !== this.#shown && this.#key !== this.#loading) void this.#load(false);
    this.#watch();
  }

  protected override updated(): void {
    this.#restoreScroll?.();
    this.#restoreScroll = null;
    this.#details.updated(this.renderRoot);
  }

  /** Reads and checks the attributes into `query` and the page key ('' while one is wrong, shown as text). */
  #read(): void {
    const url = this.endpoint || pageEndpoint();
    const { state, category, targetField, target, text, limit, cursor: before } = this;
    try {
      if (url !== this.api.url) this.api = new JobsApi(url);
      this.query = checkListQuery({ state, category, targetField, target, text, limit, before }, (field, why) => {
        throw new JobsError('invalid_options', `<job-list>: \`${ATTRIBUTES[field] ?? field}\` ${why}`, { field });
      });
      this.#key = `${url} ${JSON.stringify(this.query)}`;
      if (this.#error.startsWith('<job-list>')) this.#error = '';
    } catch (error) {
      if (this.#error !== (error as Error).message) console.error((error as Error).message);
      this.#error = (error as Error).message;
      this.#key = '';
    }
  }

  /** Loads the first page of the query (`more` false) or the next older page. */
  async #load(more: boolean): Promise<void> {
    const key = this.#key;
    this.#loading = key;
    if (!more) this.model.expectPage();
    this.requestUpdate();
    const known = new Set(this.model.rows.map((job) => job.id));
    try {
      const answer = await this.api.page(more ? { ...this.query, before: this.model.next ?? undefined } : this.query);
      if (this.#loading !== key) return;
      const again = !more && this.#shown !== '';
      if (!more) {
        this.#details.close();
        this.#actions.errors.clear();
      }
      this.model.take(answer, more);
      this.#shown = key;
      this.#error = '';
      const count = this.model.rows.length;
      if (again) this.#announcer.say('', `${count} ${count === 1 ? 'job' : 'jobs'} shown.`);
      // After "Older jobs", a keyboard user reads on from the first row it brought.
      const added = more ? this.model.rows.find((job) => !known.has(job.id)) : undefined;
      if (added) this.focusRow(added.id);
    } catch (error) {
      if (this.#loading !== key) return;
      this.#error = `Could not load jobs: ${(error as Error).message}`;
      // The rows shown stay, and go on taking news.
      if (!more && this.#shown) this.model.resume();
    } finally {
      if (this.#loading === key) this.#loading = '';
      this.requestUpdate();
    }
  }

  /** Follows the shared feed for the list's category and target (state and text are checked per job). */
  #watch(): void {
    const url = this.api.url;
    const { category, targetField, target } = this.query;
    const filter: JobFeedFilter = category ? { category } : {};
    if (targetField && target !== undefined) filter.target = { [targetField]: target };
    const key = `${url} ${JSON.stringify(filter)}`;
    if (key === this.#watching) return;
    this.#off?.();
    this.#watching = key;
    try {
      this.#off = followFeed(
        url,
        filter,
        (job) => this.model.add(job),
        (connection, notice) => {
          this.connection = connection;
          this.#notice = notice;
          this.requestUpdate();
        },
      );
    } catch (error) {
      this.#error = `<job-list>: ${(error as Error).message}`;
    }
  }

  readonly #on: ListHandlers = {
    filter: (event) => {
      event.preventDefault();
      const data = new FormData(event.target as HTMLFormElement);
      const value = (name: string) => String(data.get(name) ?? '').trim() || undefined;
      this.state = value('state');
      this.category = value('category');
      if (this.targetField) this.target = value(`target.${this.targetField}`);
      this.text = value('text');
      this.cursor = undefined;
    },
    toggle: (id) => this.#details.toggle(id),
    act: (job, action) => void this.#actions.act(job, action),
    older: () => void this.#load(true),
    newest: (event) => {
      event.preventDefault();
      this.cursor = undefined;
    },
    keydown: (event) => this.#details.keydown(event),
  };

  protected override render() {
    return renderList(
      {
        label: this.label || 'Jobs',
        query: this.query,
        rows: this.model.rows,
        permissions: this.model.permissions,
        busy: this.#actions.busy,
        actionErrors: this.#actions.errors,
        openId: this.#details.open?.id ?? null,
        detail: (job, columns) => this.#details.render(job, columns),
        next: this.model.next,
        loading: this.#loading !== '',
        error: this.#error,
        notice: this.#notice,
        announcement: this.#announcer.text,
        now: Date.now(),
      },
      this.#on,
    );
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'job-list': JobListElement;
  }
  interface GlobalEventHandlersEventMap {
    'job-action': CustomEvent<JobActionDetail>;
    'job-action-result': CustomEvent<JobActionResultDetail>;
  }
}
