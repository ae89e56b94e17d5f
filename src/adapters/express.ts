import { type Request, Router } from 'express';
import { createJobsEndpoint, type JobsHandlerOptions } from '../core/http/endpoint.js';
import type { JobRegistry } from '../core/registry.js';
import { toNodeHandler } from './node.js';

/**
 * Options of {@link jobsRouter}: `authorize` receives the Express `req`.
 *
 * @example
 * const options: JobsRouterOptions = { authorize: (req) => req.session.user ?? null, heartbeatMs: 20_000 };
 */
export type JobsRouterOptions = JobsHandlerOptions<Request>;

/** An Express `Router` serving the job routes, plus a handle on its streams. */
export interface JobsRouter extends Router {
  /** Streams open right now. */
  readonly openStreams: number;
  /** Ends every open stream (`registry.close()` does this too). Clients reconnect and resume. */
  closeStreams(): void;
}

/**
 * The job routes (`GET /`, `GET /events`, `GET /:id`) as an Express 5 router, to mount where they should
 * live. Options are checked here: without `authorize` (and without `allowAnonymous: true`) it throws.
 * Only GET and HEAD are answered; other methods fall through to the app's own routes on the same path.
 * Failures go to `next(err)`; a stream that fails after its headers were sent drops its connection.
 *
 * @example
 * app.use('/api/admin/jobs', jobsRouter(jobs, { authorize: (req) => req.session.user ?? null }));
 */
export function jobsRouter(registry: JobRegistry, options: JobsRouterOptions): JobsRouter {
  const endpoint = createJobsEndpoint<Request>(registry, options);
  // Express strips the mount path from `req.url`, so no prefix here.
  const handle = toNodeHandler(endpoint);
  const router = Router();
  router.use((req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    handle(req, res, req).catch(next);
  });
  return Object.defineProperties(router, {
    openStreams: { get: () => endpoint.openStreams, enumerable: true },
    closeStreams: { value: () => endpoint.closeStreams(), enumerable: true },
  }) as JobsRouter;
}
