// For the modules still in JavaScript (app.js, logs.js), which import './sync.js': the sync lives in
// lib/sync/. Removed once they are ported and import './sync/index.js'.
export { SYNC_CATEGORIES } from './sync/index.js';
