// Browser fragments that act on a job: the id of a job the page shows.

/** @type {string} */
const id = /** @type {any} */ (undefined);
