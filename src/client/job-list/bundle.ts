// The list's drop-in bundle: everything `realtime-jobs.js` holds (<job-status>, the controls, the
// feed) and <job-list>, in one self-contained module. A page loads this one or the other, never both:
// two copies would open two connections.
export * from '../job-status/index.js';
export * from './index.js';
