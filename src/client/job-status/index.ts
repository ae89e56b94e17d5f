import { startJobControls } from '../job-control/controller.js';
import { defineJobStatus } from './define.js';

// The one side effect of this entry point (and of the browser bundle): the tag and the controls work
// as soon as the module loads.
defineJobStatus();
startJobControls();

export {
  createJobFeed,
  type JobFeed,
  type JobFeedConnection,
  JobFeedError,
  type JobFeedErrorCode,
  type JobFeedFilter,
  type JobFeedOptions,
  type JobFeedState,
} from '../feed/index.js';
export { startJobControls, stopJobControls } from '../job-control/controller.js';
export { configureJobFeed, DEFAULT_ENDPOINT, type JobFeedStateDetail, pageEndpoint, sharedJobFeed } from '../shared.js';
export { defineJobStatus } from './define.js';
export { type JobChangeDetail, type JobChangeEvent, JobStatusElement } from './job-status.js';
