import { startJobControls } from './controller.js';
import { defineJobStatus } from './define.js';

// The one side effect of this entry point (and of the browser bundle): the tag and the controls work
// as soon as the module loads.
defineJobStatus();
startJobControls();

export {
  createJobFeed,
  type JobFeed,
  JobFeedError,
  type JobFeedFilter,
  type JobFeedOptions,
  type JobFeedState,
} from '../feed.js';
export { configureJobFeed, DEFAULT_ENDPOINT, type JobFeedStateDetail, pageEndpoint, sharedJobFeed } from '../shared.js';
export { startJobControls, stopJobControls } from './controller.js';
export { defineJobStatus } from './define.js';
export { type JobChangeDetail, type JobChangeEvent, JobStatusElement } from './job-status.js';
