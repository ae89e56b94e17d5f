// Express fragments that also allow actions (docs/job-list.md): "Mount it"'s app, registry and
// authorize, and an authorizeAction.
import type { Express, Request } from 'express';
import type { JobRegistry, Principal } from 'realtime-jobs';
import { jobsRouter } from 'realtime-jobs/express';

declare const app: Express;
declare const jobs: JobRegistry;
declare function authorize(req: Request): Principal | null;
declare function authorizeAction(principal: Principal | null, action: string, job: unknown, req: Request): boolean;
