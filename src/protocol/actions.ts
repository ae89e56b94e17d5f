import { isBusy, type Job, type JobState, type LogLine } from './job.js';
import { JOB_ACTIONS, type JobAction } from './wire.js';

// The answers of the list and detail routes, and which actions a list offers on a job.

export { JOB_ACTIONS, type JobAction };

/** `GET {prefix}?…`: a page of jobs, newest first. */
export interface JobListAnswer {
  jobs: Job[];
  /** The `before` cursor of the next (older) page, or null on the last one. */
  next: string | null;
  /** What the user may do to each job, whatever its state; absent when the routes offer no actions. */
  permissions?: Record<string, JobAction[]>;
}

/** `GET {prefix}/{id}/detail`. */
export interface JobDetailAnswer {
  job: Job;
  /** The job's kept log lines, oldest first. */
  log: LogLine[];
  permissions?: JobAction[];
}

/** Whether an action makes sense in a state: cancel a busy job, retry a finished one, approve or reject a pending one. */
export function actionFits(action: JobAction, state: JobState): boolean {
  if (action === 'cancel') return isBusy(state);
  if (action === 'retry') return !isBusy(state);
  return state === 'pending';
}

/** The actions to offer on `job`: those `permitted` (in {@link JOB_ACTIONS} order) that fit its state. */
export function offeredActions(job: Pick<Job, 'state'>, permitted: readonly string[] | undefined): JobAction[] {
  return permitted ? JOB_ACTIONS.filter((action) => permitted.includes(action) && actionFits(action, job.state)) : [];
}
