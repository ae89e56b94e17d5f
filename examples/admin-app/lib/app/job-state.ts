import type { Job, JobRegistry } from 'realtime-jobs';
import { isBusy } from 'realtime-jobs';

/** The newest job of this category for this target, or null. */
export const latest = (jobs: JobRegistry, category: string, target: Readonly<Record<string, string>>): Job | null =>
  jobs.list({ category: [category], target, limit: 1 })[0] ?? null;

/** Whether this job is still under way (queued, running, or waiting for approval). */
export const busy = (job: Job | null): boolean => job !== null && isBusy(job.state);

/**
 * Whether work is going on (queued or running): a page without JavaScript reloads itself meanwhile
 * (layout.eta's `<noscript>` refresh) and stops once it ends. A job waiting for approval is busy
 * too, but waits for a person, maybe for days: the page does not reload for that.
 */
export const working = (...list: (Job | null)[]): boolean =>
  list.some((job) => job !== null && (job.state === 'queued' || job.state === 'running'));
