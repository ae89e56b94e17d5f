import { escapeHtml, renderJobStatus, renderJobStatusStyles, STATE_WORDS } from 'realtime-jobs/html';

/** The tiles' stylesheet, once in the page head, so server markup and upgraded element look the same. */
export const tileStyles = renderJobStatusStyles();

/** A `<job-status>` tile for this job (or none yet), readable without JavaScript. */
export const tile = (job, options) => renderJobStatus(job, { ...options, styles: false });

/** A state in words, as the tiles and the job list say it: "Succeeded", "Waiting for approval". */
export const stateWords = (state) => STATE_WORDS[state] ?? state;

/**
 * A state badge for the app's own tables (activity, run log): the library's words, and its colours
 * through `.state-badge[data-state]` in app.css (the tiles' `--job-status-*` properties), so a tile, a
 * table row and the job list never name or colour one state two ways.
 */
export const stateBadge = (state) =>
  `<span class="state-badge" data-state="${escapeHtml(state)}">${escapeHtml(stateWords(state))}</span>`;
