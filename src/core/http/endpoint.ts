import { errorMessage, type HttpErrorCode, isJobsError, JobsError } from '../../protocol/errors.js';
import { JOB_ID_PATTERN, type Job } from '../../protocol/job.js';
import { parseFilterQuery } from '../../protocol/query.js';
import {
  JOB_ACTIONS,
  type JobAction,
  LIST_LIMIT,
  MAX_ACTION_BODY_BYTES,
  MAX_EVENT_ID_LENGTH,
  MAX_TEXT_FILTER_LENGTH,
  SNAPSHOT_LIMIT,
  STREAM_EVENT,
} from '../../protocol/wire.js';
import type { JobFilter } from '../filter.js';
import { functionOption, integerOption, logError, timerOption } from '../options.js';
import type { JobRegistry } from '../registry.js';
import { encodeSseMessage } from '../sse.js';
import { JobStream } from '../stream.js';
import { createThrottledEvents } from '../throttle.js';
import { actionRefusal, missingProof, parseRejectBody } from './actions.js';
import { decodeCursor, encodeCursor } from './cursor.js';
import { etagMatches, weakEtag } from './etag.js';
import { badRequest, HttpError } from './http-error.js';
import { ALLOWED_METHODS, flagParameter, routeOf, singleParameter } from './routes.js';

/** Who is asking. `scopes` decides which jobs they see; no scope at all means forbidden everywhere. */
export interface Principal {
  id: string;
  scopes: readonly string[];
}

/**
 * Decides who is asking, from the framework's own request object (Express `req`, Fastify `request`,
 * a fetch `Request`). Returns null when nobody is logged in (→ 401).
 */
export type Authorize<Context> = (
  context: Context,
) => Principal | null | undefined | Promise<Principal | null | undefined>;

/**
 * Decides whether `principal` may take `action` on `job` (`null` on an anonymous endpoint), from
 * whatever you know of them: roles, the job's category or target. Asked for each action request, and
 * for each job and action of a list or detail answer (its `permissions`), whatever the job's state, so
 * keep it cheap. Only `true` allows; a throw, or an answer that is not a boolean, answers `500`.
 */
export type AuthorizeAction<Context> = (
  principal: Principal | null,
  action: JobAction,
  job: Job,
  context: Context,
) => boolean | Promise<boolean>;

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
   * newest one wins); the first change in a state and every change of state go out at once. `0` sends
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
}

/** An open stream as the endpoint keeps it. */
interface OpenStream<Context> {
  /** Who opened it, copied then; null on anonymous endpoints. */
  principal: Principal | null;
  /** What `authorize` received then; re-checks pass it again. */
  context: Context;
  /** A re-check is waiting on `authorize`. */
  checking: boolean;
}

/** A request reduced to what the routes read. Adapters build it from their framework's request. */
export interface JobsRequest {
  method: string;
  /**
   * The path below the routes' prefix: `''`, `/events`, `/<id>`, `/<id>/detail` or `/<id>/<action>`;
   * still percent-encoded. `null` when the request lies outside the prefix: it is answered `404`
   * before `authorize` is asked.
   */
  path: string | null;
  query: URLSearchParams;
  header(name: string): string | undefined;
  /**
   * Reads the body. Only `POST …/reject` calls it, after every check has passed. Resolves with the raw
   * bytes or text (an adapter may stop reading past `maxBytes`: the route refuses a longer body), with
   * the value the framework parsed already (Express's `req.body`, Fastify's `request.body`), or with
   * undefined for none. Without it, the request has no body.
   */
  body?(maxBytes: number): Promise<unknown>;
}

/** A route's answer: a JSON body, or a stream for the adapter to connect to its connection. */
export type JobsResponse =
  | { status: number; headers: Record<string, string>; body: string; stream?: undefined }
  | { status: 200; headers: Record<string, string>; body?: undefined; stream: JobStream };

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
  /** Reports a failure outside the routes (an adapter's own) to the endpoint's `onError`. */
  reportError(error: unknown): void;
}

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'private, no-store',
  'x-content-type-options': 'nosniff',
};

/** Headers of a stream. `Connection: keep-alive` is added by the Node bridge on HTTP/1.1 only. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'private, no-store, no-transform',
  'x-accel-buffering': 'no',
  'x-content-type-options': 'nosniff',
});

export function errorResponse(status: number, code: HttpErrorCode, message: string, field?: string): JobsResponse {
  const error = field === undefined ? { code, message } : { code, message, field };
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify({ error }) };
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
  const heartbeatMs = timerOption('realtime-jobs', 'heartbeatMs', options.heartbeatMs, 15_000, 1);
  const retryMs = timerOption('realtime-jobs', 'retryMs', options.retryMs, 3_000, 0);
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
  const subscribe = createThrottledEvents(registry, throttleMs);

  /** Each open stream: who opened it (a copy) and the context `authorize` saw then, for re-checks. */
  const streams = new Map<JobStream, OpenStream<Context>>();
  // One registry listener ends every stream of this endpoint, rather than one listener per stream.
  registry.onClose(() => {
    for (const stream of [...streams.keys()]) stream.close('registry-closed');
  });
  // The store lost its history: clients must resync, which their next connection does.
  registry.onReset(() => {
    for (const stream of [...streams.keys()]) stream.close('server-closed');
  });
  const streamsByPrincipal = new Map<string, number>();
  // One timer of each kind for every stream of this endpoint, running only while a stream is open.
  let heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  let reauthorizeTimer: ReturnType<typeof setInterval> | null = null;
  const beat = () => {
    const frame = encodeSseMessage({ event: 'heartbeat', data: JSON.stringify({ at: new Date().toISOString() }) });
    for (const stream of streams.keys()) stream.heartbeat(frame);
  };

  /** Ends a stream with a final `denied` event: the client should not reconnect as it is. */
  function deny(stream: JobStream, reason: 'unauthorized' | 'forbidden'): void {
    stream.close('denied', encodeSseMessage({ event: STREAM_EVENT.denied, data: JSON.stringify({ reason }) }));
  }

  /**
   * Runs `authorize` again for one open stream; never rejects. Its login ended (null, or another principal) →
   * `unauthorized`; it lost a scope the stream shows, or holds none → `forbidden`. A throw leaves the
   * stream open: a session store that blinks must not drop every admin at once.
   */
  async function reauthorize(stream: JobStream, open: OpenStream<Context>): Promise<void> {
    const { principal, context } = open;
    // A check still waiting on a slow authorize is not stacked with another.
    if (!authorize || !principal || open.checking) return;
    open.checking = true;
    let now: Principal | null;
    try {
      now = checkedPrincipal(await authorize(context));
    } catch (error) {
      report(new Error(`re-checking a stream's authorization failed: ${errorMessage(error)}`, { cause: error }));
      return;
    } finally {
      open.checking = false;
    }
    if (stream.closed) return;
    if (now === null || now.id !== principal.id) deny(stream, 'unauthorized');
    else if (now.scopes.length === 0 || !principal.scopes.every((scope) => now.scopes.includes(scope))) {
      deny(stream, 'forbidden');
    }
  }
  const reauthorizeAll = () => {
    for (const [stream, open] of streams) void reauthorize(stream, open);
  };

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
    if (!authorize) return null;
    const principal = checkedPrincipal(await authorize(context));
    if (principal === null) throw new HttpError(401, 'unauthorized', 'Log in to see jobs');
    if (principal.scopes.length === 0) throw new HttpError(403, 'forbidden', 'You may not see jobs');
    return principal;
  }

  function openStream(request: JobsRequest, principal: Principal | null, context: Context): JobsResponse {
    const filter: JobFilter = parseFilter(request.query, false);
    if (request.query.has('text')) throw badRequest('`text` filters lists only', 'text');
    const logs = flagParameter(request.query, 'logs');
    if (principal) filter.scopes = principal.scopes;
    const key = principal?.id ?? '';
    const open = streamsByPrincipal.get(key) ?? 0;
    if (open >= maxStreams) {
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
    });
    const opener = principal && { id: principal.id, scopes: [...principal.scopes] };
    streams.set(stream, { principal: opener, context, checking: false });
    streamsByPrincipal.set(key, open + 1);
    if (!heartbeatTimer) {
      heartbeatTimer = setInterval(beat, heartbeatMs);
      heartbeatTimer.unref?.();
    }
    if (!reauthorizeTimer && principal && reauthorizeMs > 0) {
      reauthorizeTimer = setInterval(reauthorizeAll, reauthorizeMs);
      reauthorizeTimer.unref?.();
    }
    stream.onClose(() => {
      streams.delete(stream);
      const left = (streamsByPrincipal.get(key) ?? 1) - 1;
      if (left > 0) streamsByPrincipal.set(key, left);
      else streamsByPrincipal.delete(key);
      if (streams.size === 0) {
        if (heartbeatTimer) clearInterval(heartbeatTimer);
        if (reauthorizeTimer) clearInterval(reauthorizeTimer);
        heartbeatTimer = null;
        reauthorizeTimer = null;
      }
    });
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

  async function list(request: JobsRequest, principal: Principal | null, context: Context): Promise<JobsResponse> {
    const { query } = request;
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
    const answer: { jobs: Job[]; next: string | null; permissions?: Record<string, JobAction[]> } = {
      jobs: page.jobs,
      next: page.next && encodeCursor(page.next),
    };
    if (authorizeAction) {
      const allowed = await Promise.all(page.jobs.map((job) => permissionsFor(principal, job, context)));
      answer.permissions = Object.fromEntries(page.jobs.map((job, i) => [job.id, allowed[i] as JobAction[]]));
    }
    const body = JSON.stringify(answer);
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
        for (const stream of [...streams.keys()]) stream.close('server-closed');
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
      for (const [stream, { principal }] of [...streams]) {
        if (principal?.id === principalId) deny(stream, 'unauthorized');
      }
    },
    reportError: report,
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
        return errorResponse(500, 'internal_error', 'The job routes failed; the server log says why');
      }
    },
  };
}

function jsonResponse(status: number, value: unknown): JobsResponse {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify(value) };
}

/** `authorize`'s answer, checked: null for nobody, a principal, or a throw for anything else (a server bug). */
function checkedPrincipal(principal: Principal | null | undefined): Principal | null {
  if (principal === null || principal === undefined) return null;
  if (
    typeof principal !== 'object' ||
    typeof principal.id !== 'string' ||
    principal.id === '' ||
    !Array.isArray(principal.scopes) ||
    !principal.scopes.every((scope) => typeof scope === 'string')
  ) {
    throw new Error('authorize() must return null or { id: string, scopes: string[] }');
  }
  return principal;
}
