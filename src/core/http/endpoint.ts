// About 390 lines on purpose: the routes share one closure (the registry, the checked options, the
// open streams and `authorizeAction`), and each route is a short function in it. What stands alone
// lives beside it: the route table (routes.ts), actions' checks (actions.ts), cursors, ETags, open
// streams, principals and the response shapes.

import type { JobListAnswer } from '../../protocol/actions.js';
import { errorMessage, isJobsError, JobsError } from '../../protocol/errors.js';
import { JOB_ID_PATTERN, type Job } from '../../protocol/job.js';
import { parseFilterQuery } from '../../protocol/query.js';
import {
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_RETRY_MS,
  JOB_ACTIONS,
  type JobAction,
  LIST_LIMIT,
  MAX_ACTION_BODY_BYTES,
  MAX_EVENT_ID_LENGTH,
  MAX_TEXT_FILTER_LENGTH,
  SNAPSHOT_LIMIT,
} from '../../protocol/wire.js';
import type { JobFilter } from '../filter.js';
import { type EndpointInstrumentation, endpointHooks } from '../instrumentation.js';
import { functionOption, integerOption, logError, timerOption } from '../options.js';
import type { JobRegistry } from '../registry.js';
import { JobStream } from '../stream.js';
import { createThrottledEvents } from '../throttle.js';
import { actionRefusal, missingProof, parseRejectBody } from './actions.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { etagMatches, weakEtag } from './etag.js';
import { OpenStreams } from './open-streams.js';
import { type Authorize, type AuthorizeAction, checkedPrincipal, type Principal } from './principal.js';
import {
  badRequest,
  errorResponse,
  HttpError,
  internalErrorResponse,
  type JobsRequest,
  type JobsResponse,
  JSON_HEADERS,
  STREAM_HEADERS,
} from './responses.js';
import { ALLOWED_METHODS, flagParameter, routeOf, singleParameter } from './routes.js';

export interface JobsHandlerOptions<Context = Request> {
  /** Required, unless `allowAnonymous: true` is given on purpose. */
  authorize?: Authorize<Context>;
  /**
   * Turns the actions on (`POST {prefix}/{id}/cancel|retry|approve|reject`) and decides who may take
   * which. Without it every action answers `403`: a read-only endpoint is the default.
   * @example (principal, action) => principal?.scopes.includes('admin') === true || action === 'cancel'
   */
  authorizeAction?: AuthorizeAction<Context>;
  /** Serves every job to everybody when no `authorize` is given. Only for demos and trusted networks. @default false */
  allowAnonymous?: boolean;
  /** Heartbeat interval on streams. @default 15000 */
  heartbeatMs?: number;
  /** The `retry:` a stream asks clients to wait before reconnecting. @default 3000 */
  retryMs?: number;
  /** Open streams one principal may hold; a stream counts until its connection has closed. @default 16 */
  maxStreamsPerPrincipal?: number;
  /**
   * Bytes of live changes a stream reader that is behind may have waiting before it is disconnected.
   * A snapshot or replay does not count: it is written as fast as the reader takes it.
   * @default 1048576
   */
  maxBufferedBytes?: number;
  /**
   * A stream reader that takes nothing for this long while data waits for it is disconnected (it
   * resumes when it reconnects). At most 2³¹−1.
   * @default 30000
   */
  stallTimeoutMs?: number;
  /**
   * Progress-only changes of one job go out on a stream at most once per this many milliseconds (the
   * newest one wins); the first change in a state, every change of state and any change after a quiet
   * `throttleMs` go out at once, and a held one waits only for the rest of the interval. `0` sends
   * every change. Resuming clients still get every event.
   * @default 50
   */
  throttleMs?: number;
  /**
   * How often `authorize` runs again, with the context each open stream was opened with. A stream
   * whose principal is gone (null) or another ends with a final `denied` event (`unauthorized`); one
   * whose principal lost a scope it was opened with, or holds none, too (`forbidden`). An `authorize`
   * that throws is reported to `onError` and leaves the stream open. `0` turns re-checks off; at most
   * 2^31−1. Logout hooks should still call `closeStreams(principalId)`: a session loaded once per
   * request (express-session) looks the same on every re-check.
   * @default 60000
   */
  reauthorizeMs?: number;
  /** Where unexpected failures (a throwing `authorize`, at connect or on a re-check) are reported. @default console.error */
  onError?: (error: Error) => void;
  /**
   * Hooks for telemetry on streams (opened, closed, evicted, resynced): `openTelemetryInstrumentation()`
   * from `realtime-jobs/otel`, or your own {@link EndpointInstrumentation}. Without it nothing is called.
   */
  instrumentation?: EndpointInstrumentation;
}

/** The routes, independent of any framework: what `createJobsHandler` and the adapters serve. */
export interface JobsEndpoint<Context> {
  /** Answers one request. Never rejects: an unexpected failure answers `500` and goes to `onError`. */
  handle(request: JobsRequest, context: Context): Promise<JobsResponse>;
  /**
   * With a principal id (logout): ends that principal's open streams, each with a final `denied`
   * event (`{"reason":"unauthorized"}`). Without (server shutdown): ends every open stream, and clients
   * reconnect and resume. An id that is not a non-empty string throws rather than ending everybody's.
   */
  closeStreams(principalId?: string): void;
  /** Streams open right now. */
  readonly openStreams: number;
  /**
   * What `GET {prefix}?{query}` answers this request's principal, as an object: for a page that renders
   * the list on the server (`renderJobList(answer.jobs, { …, next: answer.next, permissions:
   * answer.permissions })`). Throws a {@link JobsError} with the status and code the route would
   * answer: `401 unauthorized`, `403 forbidden`, `400 bad_request` naming the bad parameter.
   */
  listPage(context: Context, query?: URLSearchParams | string): Promise<JobListAnswer>;
  /** Reports a failure outside the routes (an adapter's own) to the endpoint's `onError`. */
  reportError(error: unknown): void;
}

/**
 * Builds the job routes over a registry, for any framework. Most users want
 * {@link createJobsHandler} (fetch) or an adapter; this is what they all share.
 */
export function createJobsEndpoint<Context>(
  registry: JobRegistry,
  options: JobsHandlerOptions<Context>,
): JobsEndpoint<Context> {
  if (!registry || typeof registry.subscribe !== 'function' || typeof registry.list !== 'function') {
    throw new JobsError(
      'invalid_options',
      'realtime-jobs: the first argument must be a job registry (createJobRegistry())',
      {
        field: 'registry',
      },
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', 'realtime-jobs: options must be an object with `authorize`', {
      field: 'options',
    });
  }
  const { authorize, allowAnonymous = false } = options;
  if (authorize !== undefined && typeof authorize !== 'function') {
    throw new JobsError('invalid_options', 'realtime-jobs: `authorize` must be a function', { field: 'authorize' });
  }
  if (authorize === undefined && allowAnonymous !== true) {
    throw new JobsError(
      'invalid_options',
      'realtime-jobs: `authorize` is required: it decides who may see jobs. Pass `allowAnonymous: true` to serve every job to everybody on purpose.',
      { field: 'authorize' },
    );
  }
  const heartbeatMs = timerOption('realtime-jobs', 'heartbeatMs', options.heartbeatMs, DEFAULT_HEARTBEAT_MS, 1);
  const retryMs = timerOption('realtime-jobs', 'retryMs', options.retryMs, DEFAULT_RETRY_MS, 0);
  const stallTimeoutMs = timerOption('realtime-jobs', 'stallTimeoutMs', options.stallTimeoutMs, 30_000, 1);
  const maxStreams = integerOption('realtime-jobs', 'maxStreamsPerPrincipal', options.maxStreamsPerPrincipal, 16, 1);
  const maxBufferedBytes = integerOption('realtime-jobs', 'maxBufferedBytes', options.maxBufferedBytes, 1 << 20, 1024);
  const throttleMs = timerOption('realtime-jobs', 'throttleMs', options.throttleMs, 50, 0);
  const reauthorizeMs = timerOption('realtime-jobs', 'reauthorizeMs', options.reauthorizeMs, 60_000, 0);
  const onError = functionOption('realtime-jobs', 'onError', options.onError, logError);
  const authorizeAction = functionOption('realtime-jobs', 'authorizeAction', options.authorizeAction, undefined);
  /** Reports to `onError`; one that throws must not turn a handled failure into a rejection. */
  const report = (error: unknown) => {
    try {
      onError(error instanceof Error ? error : new Error(errorMessage(error), { cause: error }));
    } catch {
      // Nowhere left to report to.
    }
  };
  const hooks = endpointHooks(options.instrumentation, report);
  const subscribe = createThrottledEvents(registry, throttleMs);
  /** `authorize`, its answer checked; null on an anonymous endpoint. */
  const principalOf = authorize ? async (context: Context) => checkedPrincipal(await authorize(context)) : null;
  const streams = new OpenStreams<Context>({
    heartbeatMs,
    reauthorizeMs,
    maxPerPrincipal: maxStreams,
    authorize: principalOf,
    report,
    hooks,
  });
  // One registry listener ends every stream of this endpoint, rather than one listener per stream.
  registry.onClose(() => streams.closeAll('registry-closed'));
  // The store lost its history: clients must resync, which their next connection does.
  registry.onReset(() => streams.closeAll('server-closed'));

  /** The query's filter, checked against the registry's own limits; a bad parameter answers 400. */
  function parseFilter(query: URLSearchParams, allowState: boolean): JobFilter {
    try {
      return parseFilterQuery(query, { allowState, limits: registry.limits });
    } catch (error) {
      if (isJobsError(error, 'invalid_input')) throw new HttpError(400, 'bad_request', error.message, error.field);
      throw error;
    }
  }

  async function principalFor(context: Context): Promise<Principal | null> {
    if (!principalOf) return null;
    const principal = await principalOf(context);
    if (principal === null) throw new HttpError(401, 'unauthorized', 'Log in to see jobs');
    if (principal.scopes.length === 0) throw new HttpError(403, 'forbidden', 'You may not see jobs');
    return principal;
  }

  function openStream(request: JobsRequest, principal: Principal | null, context: Context): JobsResponse {
    const filter: JobFilter = parseFilter(request.query, false);
    if (request.query.has('text')) throw badRequest('`text` filters lists only', 'text');
    const logs = flagParameter(request.query, 'logs');
    if (principal) filter.scopes = principal.scopes;
    if (streams.isFull(principal)) {
      return errorResponse(429, 'too_many_requests', `At most ${maxStreams} open streams per user; close one first`);
    }
    const header = request.header('last-event-id');
    let lastEventId = header !== undefined && header !== '' ? header : (request.query.get('lastEventId') ?? undefined);
    if (lastEventId === '') lastEventId = undefined;
    if (lastEventId !== undefined && lastEventId.length > MAX_EVENT_ID_LENGTH) lastEventId = 'malformed';

    const stream = new JobStream(registry, {
      filter,
      lastEventId,
      retryMs,
      maxBufferedBytes,
      stallTimeoutMs,
      snapshotLimit: SNAPSHOT_LIMIT,
      logs,
      onError: report,
      subscribe,
      closeWithRegistry: false,
      onResync: hooks?.streamResynced,
    });
    streams.add(stream, principal, context);
    return { status: 200, headers: { ...STREAM_HEADERS }, stream };
  }

  /**
   * Whether `authorizeAction` allows this; no when actions are off. An answer that is not a boolean is
   * a server bug (→ 500): `undefined` from a forgotten `return` must not pass for a decision.
   */
  async function mayAct(principal: Principal | null, action: JobAction, job: Job, context: Context) {
    if (!authorizeAction) return false;
    const answer: unknown = await authorizeAction(principal, action, job, context);
    if (typeof answer !== 'boolean') throw new Error('authorizeAction() must return true or false');
    return answer;
  }

  /** The actions allowed to this principal on this job, whatever its state (the UI combines the two). */
  async function permissionsFor(principal: Principal | null, job: Job, context: Context): Promise<JobAction[]> {
    if (!authorizeAction) return [];
    const allowed = await Promise.all(JOB_ACTIONS.map((action) => mayAct(principal, action, job, context)));
    return JOB_ACTIONS.filter((_, i) => allowed[i]);
  }

  async function listAnswer(query: URLSearchParams, principal: Principal | null, context: Context) {
    const filter: JobFilter = parseFilter(query, true);
    if (principal) filter.scopes = principal.scopes;
    const text = singleParameter(query, 'text');
    if (text !== null) {
      if (text.length > MAX_TEXT_FILTER_LENGTH) {
        throw badRequest(`\`text\` must be at most ${MAX_TEXT_FILTER_LENGTH} characters`, 'text');
      }
      filter.text = text;
    }
    const limitText = singleParameter(query, 'limit');
    let limit: number = LIST_LIMIT.default;
    if (limitText !== null) {
      limit = /^[0-9]{1,4}$/.test(limitText) ? Number(limitText) : Number.NaN;
      if (!(limit >= 1 && limit <= LIST_LIMIT.max)) {
        throw badRequest(`\`limit\` must be an integer from 1 to ${LIST_LIMIT.max}`, 'limit');
      }
    }
    const cursor = singleParameter(query, 'before');
    const before = cursor === null ? undefined : decodeCursor(cursor);
    if (before === null) throw badRequest('`before` must be the `next` of a previous page', 'before');

    const page = registry.page({ ...filter, limit, before });
    const answer: JobListAnswer = { jobs: page.jobs, next: page.next && encodeCursor(page.next) };
    if (authorizeAction) {
      const allowed = await Promise.all(page.jobs.map((job) => permissionsFor(principal, job, context)));
      answer.permissions = Object.fromEntries(page.jobs.map((job, i) => [job.id, allowed[i] as JobAction[]]));
    }
    return answer;
  }

  async function list(request: JobsRequest, principal: Principal | null, context: Context): Promise<JobsResponse> {
    const body = JSON.stringify(await listAnswer(request.query, principal, context));
    const etag = weakEtag(body);
    const headers = { ...JSON_HEADERS, etag };
    if (etagMatches(request.header('if-none-match'), etag)) return { status: 304, headers, body: '' };
    return { status: 200, headers, body };
  }

  /**
   * The job a path names, if this principal may see it. A job outside their scopes answers the same
   * `404` as an unknown one: no route tells anyone that a job they may not see exists.
   */
  function visibleJob(rawId: string, principal: Principal | null): Job {
    let id: string;
    try {
      id = decodeURIComponent(rawId);
    } catch {
      throw badRequest('The job id in the path is not valid percent-encoding', 'id');
    }
    const job = JOB_ID_PATTERN.test(id) ? registry.get(id) : undefined;
    if (!job || (principal && !principal.scopes.includes(job.scope))) {
      throw new HttpError(404, 'not_found', 'No such job (it may have expired)');
    }
    return job;
  }

  async function detail(rawId: string, principal: Principal | null, context: Context): Promise<JobsResponse> {
    const job = visibleJob(rawId, principal);
    const log = registry.logs(job.id);
    const permissions = await permissionsFor(principal, job, context);
    return jsonResponse(200, { job, log, permissions });
  }

  /**
   * An action, once the login is known and the job visible: the same-origin proof, `authorizeAction`,
   * then the registry, acting as the principal. The body (`reject` only) is read last, once all is allowed.
   */
  async function act(
    request: JobsRequest,
    route: { rawId: string; action: JobAction },
    principal: Principal | null,
    context: Context,
  ): Promise<JobsResponse> {
    const { action } = route;
    const job = visibleJob(route.rawId, principal);
    const refusal = missingProof(request.header);
    if (refusal !== null) throw new HttpError(403, 'forbidden', refusal);
    if (!authorizeAction) {
      throw new HttpError(403, 'forbidden', 'Actions are off: pass authorizeAction to the job routes to allow them');
    }
    if (!(await mayAct(principal, action, job, context))) {
      throw new HttpError(403, 'forbidden', `You may not ${action} this job`);
    }
    // The registry refuses a `by` over 200 characters; a long principal id is no fault of the request's.
    const by = principal?.id.slice(0, 200);
    try {
      let result: Job;
      if (action === 'cancel') {
        const message = by === undefined ? 'Cancelled' : `Cancelled by ${by}`;
        result = await registry.cancel(job.id, message.slice(0, registry.limits.messageLength));
      } else if (action === 'retry') result = await registry.retry(job.id, { by });
      else if (action === 'approve') result = await registry.approve(job.id, { by });
      else {
        const value = request.body ? await request.body(MAX_ACTION_BODY_BYTES) : undefined;
        const { message } = parseRejectBody(value, request.header('content-type'), registry.limits.messageLength);
        result = await registry.reject(job.id, { by, message });
      }
      return jsonResponse(200, { job: result });
    } catch (error) {
      throw actionRefusal(error);
    }
  }

  function getOne(rawId: string, principal: Principal | null): JobsResponse {
    return jsonResponse(200, visibleJob(rawId, principal));
  }

  return {
    get openStreams() {
      return streams.size;
    },
    closeStreams(...args: [principalId?: string]) {
      if (args.length === 0) {
        streams.closeAll('server-closed');
        return;
      }
      const [principalId] = args;
      if (typeof principalId !== 'string' || principalId === '') {
        throw new JobsError(
          'invalid_input',
          'realtime-jobs: closeStreams(principalId) takes a non-empty principal id; closeStreams() without one ends every stream',
          { field: 'principalId' },
        );
      }
      streams.denyPrincipal(principalId);
    },
    reportError: report,
    async listPage(context, query = '') {
      try {
        if (typeof query !== 'string' && !(query instanceof URLSearchParams)) {
          throw badRequest('listPage: `query` must be a URLSearchParams or a query string', 'query');
        }
        return await listAnswer(new URLSearchParams(query), await principalFor(context), context);
      } catch (error) {
        if (!(error instanceof HttpError)) throw error;
        throw new JobsError(error.code, error.message, { field: error.field, status: error.status });
      }
    },
    async handle(request, context) {
      try {
        const route = routeOf(request.path);
        if (route === null) throw new HttpError(404, 'not_found', 'No such route');
        const method = request.method.toUpperCase();
        const allowed = ALLOWED_METHODS[route.kind];
        if (!allowed.includes(method)) {
          const response = errorResponse(405, 'method_not_allowed', `Use ${allowed.join(' or ')} here`);
          response.headers.allow = allowed.join(', ');
          return response;
        }
        const principal = await principalFor(context);
        if (route.kind === 'events') return openStream(request, principal, context);
        if (route.kind === 'list') return await list(request, principal, context);
        if (route.kind === 'job') return getOne(route.rawId, principal);
        if (route.kind === 'detail') return await detail(route.rawId, principal, context);
        return await act(request, route, principal, context);
      } catch (error) {
        if (error instanceof HttpError) return errorResponse(error.status, error.code, error.message, error.field);
        report(new Error(`job route failed: ${errorMessage(error)}`, { cause: error }));
        return internalErrorResponse();
      }
    },
  };
}

function jsonResponse(status: number, value: unknown): JobsResponse {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(value) };
}
