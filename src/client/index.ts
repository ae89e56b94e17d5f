export type { Job, JobState } from '../protocol/job.js';
export {
  createJobFeed,
  type JobFeed,
  JobFeedError,
  type JobFeedFilter,
  type JobFeedOptions,
  type JobFeedState,
} from './feed.js';
