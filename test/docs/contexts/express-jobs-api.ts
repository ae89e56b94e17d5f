// As express-app, with the router kept in a variable: `jobsApi = jobsRouter(jobs, { authorize })`.
import type { Express } from 'express';
import type { JobsRouter } from 'realtime-jobs/express';

declare const app: Express;
declare const jobsApi: JobsRouter;
