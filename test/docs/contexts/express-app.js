// JavaScript fragments on an Express app: its app and registry (see express-app.ts).

/** @type {import('express').Express} */
const app = /** @type {any} */ (undefined);
/** @type {import('realtime-jobs').JobRegistry} */
const jobs = /** @type {any} */ (undefined);
