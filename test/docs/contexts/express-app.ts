// Express fragments continue "Mount it" (docs/adapters/express.md): its app, registry, authorize and
// session secret. Its `declare module 'express-session'` types `req.session.user` for every block.
import type { Express, Request } from 'express';
import session from 'express-session';
import type { JobRegistry, Principal } from 'realtime-jobs';
import { jobsRouter } from 'realtime-jobs/express';

declare const app: Express;
declare const jobs: JobRegistry;
declare function authorize(req: Request): Principal | null;
declare const secret: string;
