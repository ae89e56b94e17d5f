import { isJobsError } from 'realtime-jobs';
import {
  type JobListAnswer,
  type JobListQuery,
  listQueryString,
  readJobListQuery,
  renderJobList,
  renderJobListStyles,
} from 'realtime-jobs/html';
import type { RouteContext } from './context.js';
import { HttpError } from './errors.js';
import { working } from './job-state.js';

/** Jobs per page of the job history. */
const JOBS_PER_PAGE = 25;

/**
 * The job history: the library's <job-list>, rendered here from what its list route answers this
 * user (jobs, next page, permissions from authorizeAction), hydrated by the list bundle. Its
 * actions and details go to the job routes: the app has no route of its own for them.
 */
export function jobsRoutes({ app, jobsApi, render }: RouteContext): void {
  const jobListStyles = renderJobListStyles();
  app.get('/admin/jobs', async (req, res) => {
    let query: JobListQuery;
    let page: JobListAnswer;
    try {
      query = readJobListQuery(new URL(req.originalUrl, 'http://x').searchParams, { targetField: 'peer' });
      query.limit ??= JOBS_PER_PAGE;
      page = await jobsApi.listPage(req, listQueryString(query));
    } catch (error) {
      // A parameter the list cannot take (400, naming it), or the login's refusal.
      if (!isJobsError(error)) throw error;
      throw new HttpError(error.status ?? 400, error.message, error.field);
    }
    const list = renderJobList(page.jobs, {
      ...query,
      targetField: 'peer',
      label: 'Jobs, newest first',
      next: page.next,
      permissions: page.permissions,
      styles: false,
    });
    const refresh = working(...page.jobs);
    render(req, res, 'jobs', { list, jobListStyles, bundle: '/assets/realtime-jobs-list.js', refresh });
  });
}
