import type { JobListAnswer } from '../../protocol/actions.js';
import { DEFAULT_PREFIX } from '../../protocol/wire.js';
import type { JobRegistry } from '../registry.js';
import { createJobsEndpoint, type JobsEndpoint, type JobsHandlerOptions } from './endpoint.js';
import type { JobsResponse } from './responses.js';
import { normalizePrefix, pathBelow } from './target.js';

export interface FetchHandlerOptions<Context = Request> extends JobsHandlerOptions<Context> {
  /** Where the routes live. Requests outside it get `404`. @default '/api/admin/jobs' */
  prefix?: string;
}

/**
 * A fetch handler: give it a `Request`, get a `Response`. `context` (default: the request itself) is
 * what `authorize` receives, for hosts whose session lives elsewhere.
 */
export interface JobsHandler<Context = Request> {
  (request: Request, context?: Context): Promise<Response>;
  /**
   * `closeStreams(principalId)` ends that principal's streams with a final `denied` event: call it on
   * logout. `closeStreams()` ends every open stream: call it when the server shuts down.
   */
  closeStreams(principalId?: string): void;
  readonly openStreams: number;
  /**
   * What the list route would answer for `query` (default: the request's own query string), asking
   * `authorize` with `context` (default: the request), for a page that renders the list on the
   * server. Throws a `JobsError` with the route's status and code (401, 403, 400 naming the parameter).
   */
  listPage(request: Request, query?: URLSearchParams | string, context?: Context): Promise<JobListAnswer>;
}

/**
 * Serves the job routes on any runtime with web `Request` / `Response`: Hono, Next.js route handlers,
 * Bun, Deno, Cloudflare-style workers.
 *
 * @example
 * const handle = createJobsHandler(jobs, { authorize: (request) => userFrom(request) });
 * Bun.serve({ fetch: (request) => handle(request) });
 */
export function createJobsHandler<Context = Request>(
  registry: JobRegistry,
  options: FetchHandlerOptions<Context>,
): JobsHandler<Context> {
  const prefix = normalizePrefix(options?.prefix ?? DEFAULT_PREFIX);
  const endpoint: JobsEndpoint<Context> = createJobsEndpoint(registry, options);

  const handle = async (request: Request, context?: Context): Promise<Response> => {
    const url = new URL(request.url);
    const response = await endpoint.handle(
      {
        method: request.method,
        path: pathBelow(url.pathname, prefix),
        query: url.searchParams,
        header: (name) => request.headers.get(name) ?? undefined,
        body: (maxBytes) => readBody(request.body, maxBytes),
      },
      context === undefined ? (request as Context) : context,
    );
    return toResponse(response, request);
  };
  // defineProperties, not Object.assign: assign would copy the getter's value once (0) instead of the getter.
  return Object.defineProperties(handle, {
    closeStreams: { value: (...args: [principalId?: string]) => endpoint.closeStreams(...args) },
    openStreams: { get: () => endpoint.openStreams },
    listPage: {
      value: (request: Request, query?: URLSearchParams | string, context?: Context) =>
        endpoint.listPage(context === undefined ? (request as Context) : context, query ?? new URL(request.url).search),
    },
  }) as JobsHandler<Context>;
}

/** Up to `maxBytes + 1` bytes of a body (the route refuses a longer one); stops reading there. */
async function readBody(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<Uint8Array | undefined> {
  if (!body) return undefined;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size <= maxBytes) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  if (size > maxBytes) void reader.cancel().catch(() => {});
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function toResponse(response: JobsResponse, request: Request): Response {
  if (!response.stream) {
    const empty = response.status === 304 || request.method.toUpperCase() === 'HEAD';
    return new Response(empty ? null : response.body, { status: response.status, headers: response.headers });
  }
  const stream = response.stream;
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        stream.start({
          write(chunk) {
            controller.enqueue(chunk);
            return (controller.desiredSize ?? 1) > 0;
          },
          end() {
            try {
              controller.close();
            } catch {
              // Already closed or cancelled by the reader.
            }
          },
        });
      },
      pull() {
        stream.resume();
      },
      cancel() {
        stream.close('client-closed');
      },
    },
    { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
  );
  request.signal?.addEventListener('abort', () => stream.close('client-closed'), { once: true });
  return new Response(body, { status: 200, headers: response.headers });
}
