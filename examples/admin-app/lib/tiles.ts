import type { Job } from 'realtime-jobs';
import {
  escapeHtml,
  type RenderJobStatusOptions,
  renderJobStatus,
  renderJobStatusStyles,
  STATE_WORDS,
} from 'realtime-jobs/html';

/** The tiles' stylesheet, once in the page head, so server markup and upgraded element look the same. */
export const tileStyles = renderJobStatusStyles();

/** A `<job-status>` tile for this job (or none yet), readable without JavaScript. */
export const tile = (job: Job | null, options: RenderJobStatusOptions): string =>
  renderJobStatus(job, { ...options, styles: false });

/** The library's words by state, looked up by any string: a log row's state is read back from SQLite. */
const WORDS: Readonly<Record<string, string | undefined>> = STATE_WORDS;

/** A state in words, as the tiles and the job list say it: "Succeeded", "Waiting for approval". */
export const stateWords = (state: string): string => WORDS[state] ?? state;

/**
 * A state badge for the app's own tables (activity, run log): the library's words, and its colours
 * through `.state-badge[data-state]` in app.css (the tiles' `--job-status-*` properties), so a tile, a
 * table row and the job list never name or colour one state two ways.
 */
export const stateBadge = (state: string): string =>
  `<span class="state-badge" data-state="${escapeHtml(state)}">${escapeHtml(stateWords(state))}</span>`;
