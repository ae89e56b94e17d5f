import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JobsEndpoint } from '../core/http/endpoint.js';
import { internalErrorResponse, type JobsRequest, type JobsResponse } from '../core/http/responses.js';
import { normalizePrefix, parseRequestTarget, pathBelow } from '../core/http/target.js';
import { errorMessage } from '../protocol/errors.js';

export interface NodeHandlerOptions {
  /**
   * Where the routes live: stripped from the start of `req.url`, and a request outside it answers `404`
   * (Fastify sees full URLs, Express mount-relative ones).
   * @default ''
   * @example toNodeHandler(endpoint, { prefix: '/api/admin/jobs' })
   */
  prefix?: string;
}

/** Extra headers to send, e.g. those a framework's hooks set before the route took over the response. */
export type ExtraHeaders = Record<string, string | number | readonly string[] | undefined>;

/**
 * What {@link toNodeHandler} returns: serves one request. `context` is what `authorize` receives;
 * `extraHeaders` go out with the answer unless the route sets the same header. Never rejects.
 */
export type NodeJobsHandler<Context> = (
  req: IncomingMessage,
  res: ServerResponse,
  context: Context,
  extraHeaders?: ExtraHeaders,
) => Promise<void>;

/**
 * Reads a Node request as the routes see it: the path below `prefix` (still percent-encoded; `null`
 * outside it), the query, the headers and, when a route asks, the body. Never throws, whatever
 * `req.url` holds. `prefix` is normalized already (see `toNodeHandler`): this runs per request.
 * `parsed` is the body when a framework has read and parsed it already (Fastify's `request.body`);
 * without it the body is read from `req`, and only if a route asks.
 *
 * @example
 * const response = await endpoint.handle(fromNodeRequest(req, '/api/admin/jobs'), req);
 */
export function fromNodeRequest(req: IncomingMessage, base = '', parsed?: { body: unknown }): JobsRequest {
  const url = parseRequestTarget(req.url ?? '/');
  return {
    method: req.method ?? 'GET',
    path: url ? pathBelow(url.pathname, base) : null,
    query: url ? url.searchParams : new URLSearchParams(),
    header: (name) => {
      const value = req.headers[name.toLowerCase()];
      return Array.isArray(value) ? value.join(', ') : value;
    },
    body: parsed ? async () => parsed.body : (maxBytes) => readNodeBody(req, maxBytes),
  };
}

/**
 * Up to `maxBytes + 1` bytes of a request's body (the route refuses a longer one). Stops reading
 * there without destroying the request, so the refusal can still be sent; resolves with what arrived
 * when the client goes away.
 */
function readNodeBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = () => {
      req.off('data', onData);
      req.off('end', finish);
      req.off('close', finish);
      req.off('error', finish);
      resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
      if (size > maxBytes) {
        req.pause();
        finish();
      }
    };
    req.on('data', onData);
    req.on('end', finish);
    req.on('close', finish);
    req.on('error', finish);
  });
}

/**
 * Writes a route's answer to a Node response. Streams write straight to the socket (no web-stream
 * hop), pause on backpressure and resume on `drain`, and close with the connection.
 *
 * @example
 * writeNodeResponse(req, res, await endpoint.handle(fromNodeRequest(req), req));
 */
export function writeNodeResponse(
  req: IncomingMessage,
  res: ServerResponse,
  response: JobsResponse,
  extraHeaders: ExtraHeaders = {},
): void {
  if (res.headersSent || res.destroyed) {
    // The client left (or something else answered) while the route was deciding.
    response.stream?.close('client-closed');
    return;
  }
  const headers: ExtraHeaders = { ...extraHeaders, ...response.headers };
  if (!response.stream) {
    res.writeHead(response.status, headers as Record<string, string>);
    res.end(response.status === 304 ? undefined : response.body);
    return;
  }
  const stream = response.stream;
  if (req.httpVersionMajor === 1) headers.connection = 'keep-alive';
  try {
    res.writeHead(200, headers as Record<string, string>);
  } catch (error) {
    // Headers Node refuses to send: nothing went out, and the stream never starts.
    stream.close('server-closed');
    throw error;
  }
  // No flushHeaders(): `stream.start()` writes its first frame (`retry:`) in this same tick, and Node
  // sends the headers with it, so a stream opens with one socket write instead of two.
  // A compression middleware (which skips `no-transform` bodies) may still buffer until flushed.
  // Looked up once: it is set (or not) before any route runs, and a lookup per frame walks the
  // response's prototype chain (Express's included) for a method that is usually absent.
  const flush = (res as ServerResponse & { flush?: () => void }).flush?.bind(res) ?? null;
  res.on('drain', () => stream.resume());
  const gone = () => stream.close('client-closed');
  res.on('close', gone);
  res.on('error', gone);
  try {
    stream.start({
      write(chunk) {
        const ok = res.write(chunk);
        if (flush) flush();
        return ok;
      },
      end() {
        if (!res.writableEnded) res.end();
      },
    });
  } catch (error) {
    // Headers are out: the only honest answer left is to drop the connection (the client resumes).
    stream.close('server-closed');
    res.destroy();
    throw error;
  }
}

/**
 * Serves a {@link JobsEndpoint} on a Node `req` / `res` pair: {@link fromNodeRequest}, the routes,
 * then {@link writeNodeResponse}. The promise it returns never rejects, so nothing a request holds can
 * take the process down: an unexpected failure answers `500` in the routes' error JSON (or drops a
 * stream whose headers are out; the client resumes) and goes to the endpoint's `onError`.
 *
 * @example
 * const handle = toNodeHandler(createJobsEndpoint(jobs, { authorize }), { prefix: '/api/admin/jobs' });
 * http.createServer((req, res) => void handle(req, res, req));
 */
export function toNodeHandler<Context>(
  endpoint: JobsEndpoint<Context>,
  options: NodeHandlerOptions = {},
): NodeJobsHandler<Context> {
  const prefix = normalizePrefix(options.prefix ?? '');
  return async (req, res, context, extraHeaders = {}) => {
    try {
      const response = await endpoint.handle(fromNodeRequest(req, prefix), context);
      writeNodeResponse(req, res, response, extraHeaders);
    } catch (error) {
      answerFailure(res);
      endpoint.reportError(new Error(`job route failed: ${errorMessage(error)}`, { cause: error }));
    }
  };
}

/** A `500` in the routes' error JSON while nothing was sent yet; otherwise the connection is dropped. */
function answerFailure(res: ServerResponse): void {
  if (res.destroyed) return;
  try {
    if (res.headersSent) throw new Error('too late for a status code');
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    const response = internalErrorResponse();
    res.writeHead(response.status, response.headers);
    res.end(response.body);
  } catch {
    res.destroy();
  }
}
