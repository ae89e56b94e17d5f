import { type NextFunction, type Request, type Response, Router } from 'express';
import { createJobsEndpoint, type JobsHandlerOptions } from '../core/http/endpoint.js';
import { isActionPath, queryOf } from '../core/http/routes.js';
import { parseRequestTarget, pathBelow } from '../core/http/target.js';
import type { JobRegistry } from '../core/registry.js';
import type { JobListAnswer } from '../protocol/actions.js';
import { fromNodeRequest, writeNodeResponse } from './node.js';

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
  /**
   * `closeStreams(principalId)`: ends that principal's streams with a final `denied` event; call it
   * when they log out. `closeStreams()`: ends every open stream (`registry.close()` does this too);
   * clients reconnect and resume.
   */
  closeStreams(principalId?: string): void;
  /**
   * What the list route would answer `req`'s user for `query` (default: `req`'s own query string), for
   * a page that renders the list on the server. Throws a `JobsError` with the route's status and code
   * (401, 403, 400 naming the parameter).
   */
  listPage(req: Request, query?: URLSearchParams | string): Promise<JobListAnswer>;
}

/**
 * The job routes (`GET /`, `GET /events`, `GET /:id`, `GET /:id/detail`, `POST /:id/cancel|retry|approve|reject`)
 * as an Express 5 router, to mount where they should live. Options are checked here: without
 * `authorize` (and without `allowAnonymous: true`) it throws. GET and HEAD are answered on every path,
 * POST on the four action paths only; any other request falls through to the app's own routes on the
 * same path. Failures go to `next(err)`; a stream that fails after its headers were sent drops its
 * connection.
 *
 * @example
 * app.use('/api/admin/jobs', jobsRouter(jobs, { authorize: (req) => req.session.user ?? null }));
 */
export function jobsRouter(registry: JobRegistry, options: JobsRouterOptions): JobsRouter {
  const endpoint = createJobsEndpoint<Request>(registry, options);
  const router = Router();
  /** The Router's own dispatch (`router.handle`, untyped in @types/express). */
  type Dispatch = (req: Request, res: Response, next: NextFunction) => void;
  const dispatchable = router as unknown as { handle: Dispatch };
  // Express calls `router.handle(req, res, next)` for every request below the mount path. Answering
  // there, rather than from a middleware inside the Router, skips its per-request layer matching and
  // the closures it leaves on `req` — which a stream would hold for as long as it is open (about 1 KB
  // and a tenth of the CPU of opening one). Anything not ours still goes through the Router, so
  // routes an app adds to it keep working.
  const dispatch = dispatchable.handle;
  const handle = (req: Request, res: Response, next: NextFunction) => {
    // A body parser of the app's (express.json()) may have read the body already: then its `req.body`
    // is the body.
    const request = fromNodeRequest(req, '', req.body === undefined ? undefined : { body: req.body });
    // Express strips the mount path from `req.url` before resolving dot segments, so `{mount}/../{id}/cancel`
    // would read as `/{id}/cancel` here, while every URL parser (and the other adapters) puts it
    // outside the mount. Resolved whole, a path that climbs out is no path of ours.
    if (climbsOut(req)) request.path = null;
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (!read && !(req.method === 'POST' && isActionPath(request.path))) {
      dispatch.call(router, req, res, next);
      return;
    }
    endpoint
      .handle(request, req)
      .then((response) => writeNodeResponse(req, res, response))
      .catch(next);
  };
  dispatchable.handle = handle;
  return Object.defineProperties(router, {
    openStreams: { get: () => endpoint.openStreams, enumerable: true },
    closeStreams: {
      value: (...args: [principalId?: string]) => endpoint.closeStreams(...args),
      enumerable: true,
    },
    listPage: {
      value: (req: Request, query?: URLSearchParams | string) =>
        endpoint.listPage(req, query ?? queryOf(req.originalUrl ?? req.url)),
      enumerable: true,
    },
  }) as JobsRouter;
}

/** Whether the request's whole path, dot segments resolved, leaves the path the router is mounted on. */
function climbsOut(req: Request): boolean {
  if (!/(^|\/)(\.|%2e){1,2}(\/|$|\?)/i.test(req.url)) return false;
  const whole = parseRequestTarget(req.originalUrl ?? req.url);
  return whole === null || pathBelow(whole.pathname, req.baseUrl ?? '') === null;
}
