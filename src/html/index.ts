export { escapeHtml, type RenderJobStatusOptions, renderJobStatus, renderJobStatusStyles } from './render.js';
export { DEFAULT_EMPTY_MESSAGE, STATE_WORDS, type TileState } from './tile-view.js';
