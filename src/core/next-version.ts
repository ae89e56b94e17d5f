import { isTerminal, type Job } from '../protocol/job.js';
import type { JobPatch } from './validate.js';

/**
 * The next snapshot of a job after a checked patch: one version up, with the registry's timestamps.
 * `success` and `warning` fill the progress bar unless the patch sets it; `error` and `cancelled` keep
 * it, so a failed job shows how far it got.
 */
export function applyPatch(job: Job, patch: JobPatch, now: string): Job {
  const state = patch.state ?? job.state;
  return Object.freeze({
    ...job,
    state,
    phase: patch.phase !== undefined ? patch.phase : job.phase,
    progress:
      patch.progress !== undefined ? patch.progress : state === 'success' || state === 'warning' ? 1 : job.progress,
    message: patch.message !== undefined ? patch.message : job.message,
    data: patch.data !== undefined ? Object.freeze(patch.data) : job.data,
    startedAt: job.startedAt ?? (state === 'running' ? now : null),
    finishedAt: isTerminal(state) ? now : null,
    updatedAt: now,
    version: job.version + 1,
  });
}
