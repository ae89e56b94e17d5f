export { createJobFeed } from './create-feed.js';
export { JobFeedError, type JobFeedErrorCode } from './errors.js';
export type { JobFeedFilter } from './filter.js';
export type { JobFeedOptions } from './options.js';
export type { JobFeed, JobFeedConnection, JobFeedState } from './types.js';
