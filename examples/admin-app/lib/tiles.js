import { renderJobStatus, renderJobStatusStyles } from 'realtime-jobs/html';

/** The tiles' stylesheet, once in the page head, so server markup and upgraded element look the same. */
export const tileStyles = renderJobStatusStyles();

/** A `<job-status>` tile for this job (or none yet), readable without JavaScript. */
export const tile = (job, options) => renderJobStatus(job, { ...options, styles: false });
