import { type JobListQuery, targetText } from '../../html/list-view.js';
import { STATE_WORDS } from '../../html/tile-view.js';
import type { JobAction, JobListAnswer } from '../../protocol/actions.js';
import { JobsError } from '../../protocol/errors.js';
import type { Job } from '../../protocol/job.js';
import type { JobsApi } from './api.js';
import { appendPage, matchesQuery, placeOf, replaceRow } from './rows.js';

/** What the model asks of the element around it. */
export interface ModelHost {
  /** The rows or permissions changed: render again. */
  changed(): void;
  /** Something a screen reader user should hear, about `key` (a job id). */
  announce(key: string, text: string): void;
  readonly api: JobsApi;
  readonly query: JobListQuery;
}

/** `sync-push (peer: peer-a)`: a job in words, for the live region. */
const describe = (job: Job) =>
  `${job.category}${Object.keys(job.target ?? {}).length ? ` (${targetText(job.target)})` : ''}`;

/**
 * The rows of one `<job-list>` and how news joins them: pages append, a newer version of a shown job
 * replaces it in place, and a job not shown is added where it belongs once the list is sure it
 * matches (state, category and target here; `text` and permissions by asking the list route).
 */
export class ListModel {
  rows: readonly Job[] = [];
  /** What may be done to each job; null when the routes offer no actions. */
  permissions: Map<string, readonly JobAction[]> | null = null;
  next: string | null = null;
  /** Whether the rows are a first page's (news waits while one loads). */
  ready = false;
  readonly #host: ModelHost;
  readonly #early = new Map<string, Job>();
  readonly #unconfirmed = new Map<string, Job>();
  #confirmTimer: ReturnType<typeof setTimeout> | undefined;
  /** Bumped by every first page: answers about an older one are dropped. */
  #generation = 0;

  constructor(host: ModelHost) {
    this.#host = host;
  }

  /** Takes a list answer: the first page (`more` false) replaces the rows, an older one joins them. */
  take(answer: JobListAnswer, more: boolean): void {
    if (!Array.isArray(answer?.jobs)) throw new JobsError('protocol', 'The list answered without `jobs`');
    this.rows = more ? appendPage(this.rows, answer.jobs) : answer.jobs;
    this.next = typeof answer.next === 'string' ? answer.next : null;
    if (!more) {
      this.#generation++;
      this.permissions = null;
      this.#unconfirmed.clear();
    }
    if (answer.permissions && typeof answer.permissions === 'object') {
      this.permissions ??= new Map();
      for (const [id, actions] of Object.entries(answer.permissions)) this.permissions.set(id, actions);
    }
    this.resume();
  }

  /** The rows shown (a first page's) take news again, starting with what waited. */
  resume(): void {
    this.ready = true;
    const early = [...this.#early.values()];
    this.#early.clear();
    for (const job of early) this.add(job);
    this.#host.changed();
  }

  /** A first page is on its way: news waits for it (it would be placed among rows about to go). */
  expectPage(): void {
    this.ready = false;
  }

  /** A job from the feed, a detail or an action: updates its row, or adds it where it belongs. */
  add(job: Job): void {
    if (!this.ready) {
      this.#early.set(job.id, job);
      return;
    }
    const { rows, previous } = replaceRow(this.rows, job);
    if (previous) {
      this.rows = rows;
      if (previous.state !== job.state) {
        this.#host.announce(job.id, `${describe(job)}: ${STATE_WORDS[job.state]}.`);
        // What may be done to a job can depend on its state (an app may forbid cancelling a job that
        // waits for approval): ask the server again rather than offer a button it would refuse.
        if (this.permissions) this.confirm(job);
      }
      this.#host.changed();
      return;
    }
    const query = this.#host.query;
    // Shown already in this version, or the user reads an older page: new jobs are not theirs.
    if (this.rows.some((row) => row.id === job.id) || query.before) return;
    if (!matchesQuery(job, query) || placeOf(this.rows, job, this.next === null) < 0) return;
    // Whether it matches `text`, and what may be done to it, only the server knows.
    if (query.text || this.permissions) this.confirm(job);
    else this.#insert(job);
  }

  /** Adds `job` once the list route says it matches the list (in a batch with others, 50 ms later). */
  confirm(job: Job): void {
    const held = this.#unconfirmed.get(job.id);
    if (!held || job.version > held.version) this.#unconfirmed.set(job.id, job);
    this.#confirmTimer ??= setTimeout(() => void this.#confirmBatch(), 50);
  }

  setPermissions(id: string, actions: readonly JobAction[]): void {
    this.permissions?.set(id, actions);
  }

  stop(): void {
    clearTimeout(this.#confirmTimer);
    this.#confirmTimer = undefined;
    this.#unconfirmed.clear();
    this.#early.clear();
  }

  async #confirmBatch(): Promise<void> {
    this.#confirmTimer = undefined;
    const waiting = new Map([...this.#unconfirmed].slice(0, 100));
    for (const id of waiting.keys()) this.#unconfirmed.delete(id);
    const rest = this.#unconfirmed.values().next();
    if (!rest.done) this.confirm(rest.value);
    const generation = this.#generation;
    const query = { ...this.#host.query, before: undefined, limit: waiting.size };
    try {
      const answer = await this.#host.api.page(query, [...waiting.keys()]);
      if (generation !== this.#generation) return;
      for (const found of answer.jobs ?? []) {
        const actions = answer.permissions?.[found.id];
        if (actions) {
          this.permissions ??= new Map();
          this.permissions.set(found.id, actions);
        }
        const live = waiting.get(found.id);
        this.#insert(live && live.version > found.version ? live : found);
      }
    } catch (error) {
      console.warn(`<job-list>: could not check new jobs: ${(error as Error).message}`);
    }
  }

  #insert(job: Job): void {
    if (this.rows.some((row) => row.id === job.id)) {
      this.add(job);
      return;
    }
    const at = placeOf(this.rows, job, this.next === null);
    if (at < 0) return;
    this.rows = [...this.rows.slice(0, at), job, ...this.rows.slice(at)];
    this.#host.announce(job.id, `New job ${describe(job)}: ${STATE_WORDS[job.state]}.`);
    this.#host.changed();
  }
}
