import { ACTION_WORDS } from '../../html/list-view.js';
import type { JobAction } from '../../protocol/actions.js';
import { JobsError } from '../../protocol/errors.js';
import type { Job } from '../../protocol/job.js';
import type { JobsApi } from './api.js';
import type { ListModel } from './model.js';

/** Detail of `job-action`: cancelable; a listener may set `message` (the reason sent with `reject`). */
export interface JobActionDetail {
  job: Job;
  action: JobAction;
  message?: string;
}

/** Detail of `job-action-result`: the job the route answered (retry: the new job), or the error. */
export interface JobActionResultDetail {
  job: Job;
  action: JobAction;
  result: Job | null;
  error: JobsError | null;
}

/** What the list's controllers need of the element. */
export interface ListHost {
  readonly api: JobsApi;
  readonly model: ListModel;
  readonly element: HTMLElement & { readonly updateComplete: Promise<boolean> };
  /** Render again. */
  changed(): void;
  /** Moves the focus to a row's detail toggle, once rendered. */
  focusRow(id: string): void;
}

/**
 * The action buttons' work: announces the action (`job-action`, cancelable), POSTs it, keeps the
 * row's buttons disabled meanwhile, takes the job the route answers (a retry's new job joins the
 * list), shows a failure as text in the row, and tells the page (`job-action-result`).
 */
export class ListActions {
  /** Jobs with an action in flight. */
  readonly busy = new Set<string>();
  /** Why the last action on a job failed, in words. */
  readonly errors = new Map<string, string>();
  readonly #host: ListHost;

  constructor(host: ListHost) {
    this.#host = host;
  }

  async act(job: Job, action: JobAction): Promise<void> {
    // One action per job at a time: a second click (a double click, or two before the row renders
    // its disabled buttons) would post again.
    if (this.busy.has(job.id)) return;
    const host = this.#host;
    const detail: JobActionDetail = { job, action };
    const options = { bubbles: true, composed: true };
    if (!host.element.dispatchEvent(new CustomEvent('job-action', { ...options, cancelable: true, detail }))) return;
    const focused = host.element.shadowRoot?.activeElement ?? null;
    this.busy.add(job.id);
    this.errors.delete(job.id);
    host.changed();
    let result: Job | null = null;
    let error: JobsError | null = null;
    try {
      // The routes take a reason of 1 character or more: an empty one is none.
      result = await host.api.act(job.id, action, (action === 'reject' && detail.message) || undefined);
      if (result.id === job.id) host.model.add(result);
      else host.model.confirm(result);
    } catch (caught) {
      error = caught instanceof JobsError ? caught : new JobsError('network', String(caught));
      this.errors.set(job.id, `${ACTION_WORDS[action]} failed: ${error.message}`);
    }
    this.busy.delete(job.id);
    host.changed();
    host.element.dispatchEvent(
      new CustomEvent('job-action-result', { ...options, detail: { job, action, result, error } }),
    );
    await host.element.updateComplete;
    // The button pressed is gone (the job left the state it fits): keep the user in the row.
    if (focused && !focused.isConnected) host.focusRow(job.id);
  }
}
