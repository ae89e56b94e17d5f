import { isBusy, type Job, type JobState } from '../protocol/job.js';

/**
 * What a tile shows, worked out once for both renderers (`renderJobStatus()` on the server and
 * `<job-status>` in the browser), so the two show the same words in the same box.
 */

/** A tile's state: the job's state, or `idle` when there is no job. */
export type TileState = JobState | 'idle';

/** The badge text of each state: the state in words. */
export const STATE_WORDS: Readonly<Record<TileState, string>> = {
  idle: 'Idle',
  queued: 'Queued',
  pending: 'Waiting for approval',
  running: 'Running',
  success: 'Succeeded',
  warning: 'Finished with warnings',
  error: 'Failed',
  cancelled: 'Cancelled',
};

/** Shown by an idle tile when no `emptyMessage` is given. */
export const DEFAULT_EMPTY_MESSAGE = 'No job has run yet.';

export interface TileView {
  state: TileState;
  badge: string;
  /** The job's message, or the empty message of an idle tile; `''` shows nothing. */
  message: string;
  phase: string | null;
  /** Progress in percent; `null` for an indeterminate bar; `undefined` for no bar at all. */
  progress: number | null | undefined;
  times: Array<{ label: string; at: string }>;
}

/**
 * Progress in percent, 0–100, or null (no known progress) for anything but a finite number: a job from
 * a broken server may say `"half"` or `7`, and a bar must not claim 0 % or 700 %.
 */
export function percent(progress: unknown): number | null {
  return typeof progress === 'number' && Number.isFinite(progress)
    ? Math.min(100, Math.max(0, Math.round(progress * 100)))
    : null;
}

export function tileView(job: Job | null, emptyMessage: string): TileView {
  if (!job) {
    return {
      state: 'idle',
      badge: STATE_WORDS.idle,
      message: emptyMessage,
      phase: null,
      progress: undefined,
      times: [],
    };
  }
  const times: TileView['times'] = [{ label: 'Queued', at: job.queuedAt }];
  if (job.startedAt) times.push({ label: 'Started', at: job.startedAt });
  if (job.finishedAt) times.push({ label: 'Finished', at: job.finishedAt });
  const progress = percent(job.progress);
  const showBar = job.state === 'running' || (isBusy(job.state) && progress !== null);
  return {
    state: job.state,
    badge: STATE_WORDS[job.state] ?? job.state,
    message: job.message ?? '',
    // A phase is a step of work still going on: a finished job's last phase ("applying") would read
    // as if it were still at it, so only a busy job shows one; the message says how it ended.
    phase: isBusy(job.state) ? job.phase || null : null,
    progress: showBar ? progress : undefined,
    times,
  };
}

/** `2026-11-28 12:00:15 UTC`: the server cannot know the reader's time zone, so it says which one it used. */
export function formatUtc(iso: string): string {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}
