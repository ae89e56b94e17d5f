export type { JobAction, JobDetailAnswer, JobListAnswer } from '../protocol/actions.js';
export { type JobListQuery, listQueryString } from './list-view.js';
export { escapeHtml, type RenderJobStatusOptions, renderJobStatus, renderJobStatusStyles } from './render.js';
export { type RenderJobListOptions, readJobListQuery, renderJobList, renderJobListStyles } from './render-list.js';
export { DEFAULT_EMPTY_MESSAGE, STATE_WORDS, type TileState } from './tile-view.js';
