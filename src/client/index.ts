export type { Job, JobState } from '../core/job.js';
export {
  createJobFeed,
  type JobFeed,
  JobFeedError,
  type JobFeedFilter,
  type JobFeedOptions,
  type JobFeedState,
} from './feed.js';
