import { isTerminal, type Job, type JobError, type JobState, type JsonObject } from '../protocol/job.js';
import type { JobPatch } from './validate.js';

/**
 * A checked patch plus the fields only the library sets: the work's `result`, a failure's `error`,
 * the `attempt` counters.
 */
export interface JobChange extends JobPatch {
  result?: JsonObject | null;
  error?: JobError | null;
  attempt?: number;
  maxAttempts?: number;
  /**
   * Applies only while the job is in this state, checked on the version the write replaces (not on
   * an earlier look): an operator's action (`approve`, `reject`) must not land on a job another
   * action moved meanwhile. `action` names it in the refusal ("only a pending job is approved").
   */
  onlyFrom?: { state: JobState; action: string };
}

/**
 * The next snapshot of a job after a change: one version up, with the registry's timestamps.
 * `success` and `warning` fill the progress bar unless the change sets it; `error` and `cancelled` keep
 * it, so a failed job shows how far it got. A job that ends without error clears a retried attempt's
 * `error`.
 */
export function applyPatch(job: Job, patch: JobChange, now: string): Job {
  const state = patch.state ?? job.state;
  const ended = state === 'success' || state === 'warning';
  return Object.freeze({
    ...job,
    state,
    phase: patch.phase !== undefined ? patch.phase : job.phase,
    progress: patch.progress !== undefined ? patch.progress : ended ? 1 : job.progress,
    message: patch.message !== undefined ? patch.message : job.message,
    data: patch.data !== undefined ? Object.freeze(patch.data) : job.data,
    result: patch.result !== undefined ? (patch.result === null ? null : Object.freeze(patch.result)) : job.result,
    error:
      patch.error !== undefined ? (patch.error === null ? null : Object.freeze(patch.error)) : ended ? null : job.error,
    attempt: patch.attempt ?? job.attempt,
    maxAttempts: patch.maxAttempts ?? job.maxAttempts,
    startedAt: job.startedAt ?? (state === 'running' ? now : null),
    finishedAt: isTerminal(state) ? now : null,
    updatedAt: now,
    version: job.version + 1,
  });
}
