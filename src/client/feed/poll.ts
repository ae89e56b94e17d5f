import type { Job } from '../../protocol/job.js';
import { JobFeedError } from './errors.js';
import type { NormalFilter } from './filter.js';
import { isJob } from './held-jobs.js';
import type { FeedSettings } from './options.js';
import { discard, listUrl, networkError, refusal, send } from './requests.js';

/** How one poll went: `etag` to send next time, or the error; `denied` when the server refused the feed. */
export interface PollResult {
  etag?: string | undefined;
  error?: JobFeedError;
  denied?: boolean;
}

/**
 * Asks the list route once for the jobs of `filter`, with `If-None-Match` so an unchanged list costs
 * a `304`, and applies what it answers, oldest first (the list comes newest first), so a view that
 * follows the newest job sees them in order. Never throws. Nothing is applied once `signal` aborted.
 */
export async function pollJobs(
  settings: FeedSettings,
  filter: NormalFilter,
  etag: string | undefined,
  signal: AbortSignal,
  apply: (job: Job) => void,
): Promise<PollResult> {
  try {
    const ifNoneMatch = etag === undefined ? undefined : (['if-none-match', etag] as [string, string]);
    const response = await send(settings, listUrl(settings.root, filter), 'application/json', signal, ifNoneMatch);
    const refused = await refusal(response);
    if (refused) return { error: refused, denied: true };
    if (response.status === 304) return { etag };
    if (!response.ok) {
      discard(response);
      return { error: new JobFeedError('http', `Polling answered ${response.status}`, response.status) };
    }
    const body = (await response.json()) as { jobs?: unknown };
    if (!Array.isArray(body?.jobs)) throw new Error('no `jobs` in the answer');
    if (!signal.aborted) for (const job of body.jobs.reverse()) if (isJob(job)) apply(job);
    return { etag: response.headers.get('etag') ?? undefined };
  } catch (error) {
    return { error: networkError('Polling', error) };
  }
}
