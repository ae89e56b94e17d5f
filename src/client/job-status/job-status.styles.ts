import { unsafeCSS } from 'lit';
import { tileCss } from '../../html/styles.js';

/** The shadow styles of `<job-status>`: the same rules the server markup carries, written for `:host`. */
export const jobStatusStyles = unsafeCSS(tileCss(false));
