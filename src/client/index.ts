export type { Job, JobState } from '../protocol/job.js';
export {
  createJobFeed,
  type JobFeed,
  type JobFeedConnection,
  JobFeedError,
  type JobFeedErrorCode,
  type JobFeedFilter,
  type JobFeedOptions,
  type JobFeedState,
} from './feed/index.js';
