import express, { type Request, type Response, Router } from 'express';
import { writeNodeResponse } from '../../src/adapters/node.js';
import { STREAM_HEADERS } from '../../src/core/http/endpoint.js';
import type { JobRegistry } from '../../src/core/registry.js';
import { encodeSseMessage } from '../../src/core/sse.js';
import { JobStream } from '../../src/core/stream.js';
import { JOB_ACTIONS, type JobAction, type JobListAnswer } from '../../src/protocol/actions.js';
import { isJobsError } from '../../src/protocol/errors.js';
import type { Job } from '../../src/protocol/job.js';
import { parseFilterQuery } from '../../src/protocol/query.js';
import { ACTION_PROOF_HEADER, LIST_LIMIT, SNAPSHOT_LIMIT } from '../../src/protocol/wire.js';

// The list, detail, log-stream and action routes of the HTTP contract ("Operators act on jobs"), as
// the `actions` branch specifies them, over a real registry. A stand-in until that branch's routes
// land in src/core/http/endpoint.ts: mounted before `jobsRouter`, which serves everything else.
//
//   GET  /?limit&before&state&category&target.<f>&text&job_id → { jobs, next, permissions? }
//   GET  /:id/detail                                           → { job, log, permissions? }
//   GET  /events?logs=1&job_id=…                               → SSE with `job-log` events
//   POST /:id/cancel|retry|approve|reject  (X-Realtime-Jobs: 1) → { job } | { error }
//        (as the real routes: the proof, authorizeAction, then the registry decides; its refusals answer
//        404, 409 or 400; cancelling a job that already ended answers the job as it is)

/** Who may do what: `authorizeAction` of the contract, for the one test user. */
export type AuthorizeAction = (action: JobAction, job: Job) => boolean;

export interface ListRoutes {
  router: Router;
  /** Ends every open log stream (clients reconnect and resume). */
  closeStreams(): void;
  /** Log streams open now. */
  readonly openStreams: number;
}

class RouteError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

function permissionsOf(authorize: AuthorizeAction | null, job: Job): JobAction[] {
  return authorize ? JOB_ACTIONS.filter((action) => authorize(action, job)) : [];
}

/** Free text, as the real routes judge it: part of the message, category, phase or a target value, ignoring case. */
function matchesText(job: Job, text: string): boolean {
  const needle = text.toLowerCase();
  return [job.message ?? '', job.category, job.phase ?? '', ...Object.values(job.target)].some((field) =>
    field.toLowerCase().includes(needle),
  );
}

/** Page order, as the real routes keep it: newest `queuedAt` first, then the greater id. */
function pageOrder(a: Job, b: Job): number {
  return Date.parse(b.queuedAt) - Date.parse(a.queuedAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/**
 * `GET {prefix}?…`: a page of jobs, newest first. The cursor is the id of the last job of the page
 * (the real routes encode its `queuedAt` and id); the next page starts after it, so jobs added
 * meanwhile (at the top) never shift a page.
 */
export function listPage(
  registry: JobRegistry,
  query: URLSearchParams,
  authorize: AuthorizeAction | null,
): JobListAnswer {
  let filter: ReturnType<typeof parseFilterQuery>;
  try {
    filter = parseFilterQuery(query, { allowState: true, limits: registry.limits });
  } catch (error) {
    if (isJobsError(error, 'invalid_input')) throw new RouteError(400, 'bad_request', error.message, error.field);
    throw error;
  }
  const limitText = query.get('limit');
  const limit = limitText === null ? LIST_LIMIT.default : Number(limitText);
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > LIST_LIMIT.max) {
    throw new RouteError(400, 'bad_request', `\`limit\` must be an integer from 1 to ${LIST_LIMIT.max}`, 'limit');
  }
  const text = query.get('text')?.trim() ?? '';
  const all = registry
    .list({ ...filter, limit: LIST_LIMIT.max })
    .filter((job) => !text || matchesText(job, text))
    .sort(pageOrder);
  const before = query.get('before');
  let start = 0;
  if (before) {
    start = all.findIndex((job) => job.id === before) + 1;
    if (start === 0) throw new RouteError(400, 'bad_request', '`before` is not a cursor of this list', 'before');
  }
  const jobs = all.slice(start, start + limit);
  const next = start + limit < all.length ? (jobs.at(-1)?.id ?? null) : null;
  const answer: JobListAnswer = { jobs, next };
  if (authorize) answer.permissions = Object.fromEntries(jobs.map((job) => [job.id, permissionsOf(authorize, job)]));
  return answer;
}

function fail(res: Response, error: unknown): void {
  let [status, code, field] = [500, 'internal_error', undefined as string | undefined];
  if (error instanceof RouteError) [status, code, field] = [error.status, error.code, error.field];
  else if (isJobsError(error, 'not_found')) [status, code] = [404, 'not_found'];
  else if (isJobsError(error, 'invalid_transition') || isJobsError(error, 'conflict'))
    [status, code] = [409, 'conflict'];
  else if (isJobsError(error, 'invalid_input')) [status, code] = [400, 'bad_request'];
  res.status(status).json({ error: { code, message: (error as Error).message, ...(field ? { field } : {}) } });
}

/** The routes, to mount at the prefix before `jobsRouter`. */
export function listRoutes(
  registry: JobRegistry,
  options: {
    /** Asked per request: null turns actions off. */
    authorizeAction: () => AuthorizeAction | null;
    retryMs?: number;
    heartbeatMs?: number;
  },
): ListRoutes {
  const router = Router();
  const streams = new Set<JobStream>();
  const authorizeAction = options.authorizeAction;
  const routes: ListRoutes = {
    router,
    closeStreams() {
      for (const stream of [...streams]) stream.close('server-closed');
    },
    get openStreams() {
      return streams.size;
    },
  };
  const query = (req: Request) => new URL(req.originalUrl, 'http://x').searchParams;

  router.get('/', (req, res) => {
    try {
      res.json(listPage(registry, query(req), authorizeAction()));
    } catch (error) {
      fail(res, error);
    }
  });

  router.get('/events', (req, res, next) => {
    const params = query(req);
    if (params.get('logs') !== '1') return next();
    let filter: ReturnType<typeof parseFilterQuery>;
    try {
      filter = parseFilterQuery(params, { allowState: false, limits: registry.limits });
    } catch (error) {
      return void res.status(400).json({ error: { code: 'bad_request', message: (error as Error).message } });
    }
    const stream = new JobStream(registry, {
      filter,
      lastEventId: req.get('last-event-id') || undefined,
      retryMs: options.retryMs ?? 200,
      maxBufferedBytes: 1 << 20,
      stallTimeoutMs: 30_000,
      snapshotLimit: SNAPSHOT_LIMIT,
      logs: true,
    });
    const beat = setInterval(
      () =>
        stream.heartbeat(
          encodeSseMessage({ event: 'heartbeat', data: JSON.stringify({ at: new Date().toISOString() }) }),
        ),
      options.heartbeatMs ?? 15_000,
    );
    streams.add(stream);
    stream.onClose(() => {
      clearInterval(beat);
      streams.delete(stream);
    });
    writeNodeResponse(req, res, { status: 200, headers: { ...STREAM_HEADERS }, stream });
  });

  router.get('/:id/detail', (req, res) => {
    const job = registry.get(req.params.id);
    if (!job)
      return void res.status(404).json({ error: { code: 'not_found', message: 'No such job (it may have expired)' } });
    const body: Record<string, unknown> = { job, log: registry.logs(job.id) };
    const authorize = authorizeAction();
    if (authorize) body.permissions = permissionsOf(authorize, job);
    res.json(body);
  });

  router.post('/:id/:action', express.json(), async (req, res) => {
    const action = req.params.action as JobAction;
    try {
      if (!JOB_ACTIONS.includes(action)) throw new RouteError(404, 'not_found', 'No such route');
      if (req.get(ACTION_PROOF_HEADER.name) !== ACTION_PROOF_HEADER.value) {
        throw new RouteError(
          403,
          'forbidden',
          `Send \`${ACTION_PROOF_HEADER.name}: ${ACTION_PROOF_HEADER.value}\` with actions`,
        );
      }
      const job = registry.get(req.params.id);
      if (!job) throw new RouteError(404, 'not_found', 'No such job (it may have expired)');
      if (!authorizeAction()?.(action, job)) throw new RouteError(403, 'forbidden', `You may not ${action} this job`);
      const message = typeof req.body?.message === 'string' ? req.body.message : undefined;
      const result =
        action === 'cancel'
          ? await registry.cancel(job.id, 'Cancelled by admin')
          : action === 'reject'
            ? await registry.reject(job.id, { by: 'admin', message })
            : await registry[action](job.id, { by: 'admin' });
      res.json({ job: result });
    } catch (error) {
      fail(res, error);
    }
  });
  return routes;
}
