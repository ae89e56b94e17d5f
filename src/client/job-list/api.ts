import { type JobListQuery, listQueryString } from '../../html/list-view.js';
import type { JobAction, JobDetailAnswer, JobListAnswer } from '../../protocol/actions.js';
import { JobsError, type JobsErrorCode } from '../../protocol/errors.js';
import type { Job } from '../../protocol/job.js';
import { ACTION_PROOF_HEADER } from '../../protocol/wire.js';
import { requestOptions } from '../shared.js';

/**
 * The list, detail and action routes as one view uses them: with the headers, credentials and fetch
 * configured for the shared feed of the same URL (`configureJobFeed`). Every failure is a
 * {@link JobsError} whose message is text to show: the routes' own words when they answered their
 * error JSON.
 */
export class JobsApi {
  /** The routes' prefix, absolute, without a trailing slash. */
  readonly root: string;
  readonly url: string;

  /** @throws {JobsError} `invalid_options` when `url` is not a URL. */
  constructor(url: string) {
    this.url = url;
    try {
      this.root = new URL(url, globalThis.location?.href).href.replace(/[?#].*$/, '').replace(/\/+$/, '');
    } catch {
      throw new JobsError(
        'invalid_options',
        `<job-list>: \`endpoint\` must be the job routes' URL, e.g. "/api/admin/jobs"`,
        {
          field: 'endpoint',
        },
      );
    }
  }

  /** `GET {prefix}?…`: one page of jobs; `jobIds` asks whether these jobs match (and what may be done to them). */
  page(query: JobListQuery, jobIds: readonly string[] = []): Promise<JobListAnswer> {
    const ids = jobIds.map((id) => `&job_id=${encodeURIComponent(id)}`).join('');
    return this.#send(`${this.root}?${listQueryString(query)}${ids}`);
  }

  /** `GET {prefix}/{id}/detail`. */
  detail(id: string): Promise<JobDetailAnswer> {
    return this.#send(`${this.root}/${encodeURIComponent(id)}/detail`);
  }

  /** `POST {prefix}/{id}/{action}` with the same-origin header; resolves with the job it answers (retry: the new job). */
  async act(id: string, action: JobAction, message?: string): Promise<Job> {
    const body = message === undefined ? undefined : JSON.stringify({ message });
    const answer = await this.#send<{ job: Job }>(`${this.root}/${encodeURIComponent(id)}/${action}`, body ?? '');
    return answer.job;
  }

  /** One request; `body` given (even empty) makes it a POST with the action header. */
  async #send<T>(url: string, body?: string): Promise<T> {
    const options = requestOptions(this.url);
    const given = options.headers;
    const headers = new Headers(typeof given === 'function' ? await given() : given);
    headers.set('accept', 'application/json');
    if (body !== undefined) {
      headers.set(ACTION_PROOF_HEADER.name, ACTION_PROOF_HEADER.value);
      if (body) headers.set('content-type', 'application/json');
    }
    let response: Response;
    try {
      response = await (options.fetch ?? fetch)(url, {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        body: body || undefined,
        credentials: options.credentials ?? 'include',
        cache: 'no-store',
      });
    } catch (error) {
      throw new JobsError('network', `The server could not be reached (${(error as Error)?.message ?? error})`);
    }
    let answer: unknown;
    try {
      answer = await response.json();
    } catch {
      answer = undefined;
    }
    if (response.ok && typeof answer === 'object' && answer !== null) return answer as T;
    const error = (answer as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined)?.error;
    const code = typeof error?.code === 'string' ? (error.code as JobsErrorCode) : 'http';
    const message =
      typeof error?.message === 'string' && error.message
        ? error.message
        : `The server answered ${response.status}${response.ok ? ' without JSON' : ''}`;
    throw new JobsError(code, message, {
      status: response.status,
      field: typeof error?.field === 'string' ? error.field : undefined,
    });
  }
}
