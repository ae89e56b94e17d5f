import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JobsEndpoint } from '../core/http.js';

export interface NodeHandlerOptions {
  /** Stripped from the start of `req.url` when present (Fastify sees full URLs; Express mount-relative ones). */
  prefix?: string;
}

/** Extra headers to send, e.g. those a framework's hooks set before the route took over the response. */
export type ExtraHeaders = Record<string, string | number | readonly string[] | undefined>;

export type NodeJobsHandler<Context> = (
  req: IncomingMessage,
  res: ServerResponse,
  context: Context,
  extraHeaders?: ExtraHeaders,
) => Promise<void>;

/**
 * Serves a {@link JobsEndpoint} on a Node `req` / `res` pair. Streams write straight to the socket
 * (no web-stream hop), pause on backpressure and resume on `drain`, and close with the connection.
 */
export function toNodeHandler<Context>(
  endpoint: JobsEndpoint<Context>,
  options: NodeHandlerOptions = {},
): NodeJobsHandler<Context> {
  const prefix = (options.prefix ?? '').replace(/\/+$/, '');
  return async (req, res, context, extraHeaders = {}) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let path = url.pathname;
    if (prefix && (path === prefix || path.startsWith(`${prefix}/`))) path = path.slice(prefix.length);
    const response = await endpoint.handle(
      {
        method: req.method ?? 'GET',
        path,
        query: url.searchParams,
        header: (name) => {
          const value = req.headers[name.toLowerCase()];
          return Array.isArray(value) ? value.join(', ') : value;
        },
      },
      context,
    );
    if (res.headersSent || res.destroyed) {
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
    res.writeHead(200, headers as Record<string, string>);
    res.flushHeaders();
    // A compression middleware (which skips `no-transform` bodies) may still buffer until flushed.
    const flushable = res as ServerResponse & { flush?: () => void };
    res.on('drain', () => stream.resume());
    res.on('close', () => stream.close('client-closed'));
    res.on('error', () => stream.close('client-closed'));
    stream.start({
      write(chunk) {
        const ok = res.write(chunk);
        flushable.flush?.();
        return ok;
      },
      end() {
        if (!res.writableEnded) res.end();
      },
    });
  };
}
