import { defineJobList } from './define.js';

// The one side effect of this entry point: the tag works as soon as the module loads.
defineJobList();

export type { JobAction, JobDetailAnswer, JobListAnswer } from '../../protocol/actions.js';
export { defineJobList } from './define.js';
export { type JobActionDetail, type JobActionResultDetail, JobListElement } from './job-list.js';
