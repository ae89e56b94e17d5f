import { readFile } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import express from 'express';
import { jobsRouter } from '../../src/adapters/express.js';
import type { AuthorizeAction, Principal } from '../../src/core/http/principal.js';
import { createJobRegistry, type JobRegistry } from '../../src/core/registry.js';
import { jsonlStore } from '../../src/stores/jsonl.js';

// The bundled crash server runs from elsewhere and is told where the repository is.
export const ROOT = process.env.REALTIME_JOBS_ROOT ?? join(import.meta.dirname, '..', '..');
export const BUNDLE = join(ROOT, 'dist', 'browser', 'realtime-jobs.js');
export const LIST_BUNDLE = join(ROOT, 'dist', 'browser', 'realtime-jobs-list.js');
export const PREFIX = '/api/admin/jobs';

export interface TestServerOptions {
  /** Listen here (0: any free port). */
  port?: number;
  /** Persist to this JSONL file (memory otherwise). */
  jsonlPath?: string;
  /** How long finished jobs are kept (the registry's `retentionMs`): short, to see them pruned. */
  retentionMs?: number;
  retryMs?: number;
  heartbeatMs?: number;
  /** The endpoint's coalescing of progress-only updates (0: every update goes out). */
  throttleMs?: number;
  /** Who asks; null → 401. */
  authorize?: () => Principal | null;
  /** Who may act on which job (the actions are off without it). */
  authorizeAction?: AuthorizeAction<express.Request>;
  /** More routes under the prefix, ahead of the job routes (test hooks that watch or hold requests). */
  routes?: (registry: JobRegistry) => express.Router;
}

/**
 * How the stream route fails, as a broken proxy or network would make it: `reset` drops the
 * connections of open streams and of every new stream request; `404`, `500`, `502` (an HTML page) and
 * `html` (a 200 login page) answer new stream requests so, after ending the open ones; `silent` lets
 * no byte through any stream, open or new (headers still go out); `none` serves streams again.
 */
export const STREAM_FAILURES = ['none', 'reset', '404', '500', '502', 'html', 'silent'] as const;
export type StreamFailure = (typeof STREAM_FAILURES)[number];

export interface TestServer {
  url: string;
  port: number;
  registry: JobRegistry;
  /** Stream requests received and streams open right now, counted at the HTTP layer. */
  readonly streams: { requests: number; open: number; lastEventIds: Array<string | undefined>; urls: string[] };
  /** Makes the stream route fail (see {@link StreamFailure}); also `POST /test/stream-failure/:mode`. */
  failStreams(mode: StreamFailure): void;
  /** Serves `html` at `path`; a function is asked per request, with the request's query string. */
  page(path: string, html: string | ((query: URLSearchParams) => string | Promise<string>)): void;
  close(): Promise<void>;
}

/** A page around some body markup, loading the drop-in bundle the way a user would. */
export function pageHtml(body: string, head = ''): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>jobs</title>
<meta name="realtime-jobs-endpoint" content="${PREFIX}">${head}
<style>body{font:16px/1.4 system-ui,sans-serif;margin:24px;width:420px}job-status{margin-bottom:12px}</style>
</head><body>${body}<script type="module" src="/realtime-jobs.js"></script></body></html>`;
}

/**
 * A real Express app: the job routes through `jobsRouter`, the built browser bundle, and test pages.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const registry = await createJobRegistry({
    ...(options.jsonlPath ? { store: jsonlStore({ path: options.jsonlPath }) } : {}),
    ...(options.retentionMs === undefined ? {} : { retentionMs: options.retentionMs }),
    onError: () => {},
  });
  const pages = new Map<string, string | ((query: URLSearchParams) => string | Promise<string>)>();
  const streams = { requests: 0, open: 0, lastEventIds: [] as Array<string | undefined>, urls: [] as string[] };
  const app = express();
  const router = jobsRouter(registry, {
    authorize: options.authorize ?? (() => ({ id: 'admin', scopes: ['admin'] })),
    retryMs: options.retryMs ?? 200,
    heartbeatMs: options.heartbeatMs ?? 15_000,
    ...(options.throttleMs === undefined ? {} : { throttleMs: options.throttleMs }),
    ...(options.authorizeAction ? { authorizeAction: options.authorizeAction } : {}),
  });
  let failure: StreamFailure = 'none';
  const openStreams = new Set<express.Response>();
  const failStreams = (mode: StreamFailure) => {
    if (!STREAM_FAILURES.includes(mode)) throw new Error(`no stream failure called ${mode}`);
    failure = mode;
    if (mode === 'reset') for (const res of openStreams) res.socket?.destroy();
    else if (mode !== 'none' && mode !== 'silent') router.closeStreams();
  };

  app.use(`${PREFIX}/events`, (req, res, next) => {
    streams.requests++;
    streams.urls.push(req.originalUrl);
    streams.lastEventIds.push(req.get('last-event-id'));
    const error = (status: number, code: string) =>
      res.status(status).json({ error: { code, message: `stream route failing with ${status} (test)` } });
    if (failure === 'reset') return void req.socket.destroy();
    if (failure === '404') return void error(404, 'not_found');
    if (failure === '500') return void error(500, 'internal_error');
    if (failure === '502') return void res.status(502).type('html').send('<h1>502 Bad Gateway</h1>');
    if (failure === 'html') return void res.type('html').send('<form action="/login">Please sign in</form>');
    streams.open++;
    openStreams.add(res);
    res.on('close', () => {
      streams.open--;
      openStreams.delete(res);
    });
    // While `silent`, nothing written to the stream reaches the client: a proxy holding it open.
    const write = res.write.bind(res) as (...args: unknown[]) => boolean;
    res.write = ((...args: unknown[]) => failure === 'silent' || write(...args)) as typeof res.write;
    next();
  });
  if (options.routes) app.use(PREFIX, options.routes(registry));
  app.use(PREFIX, router);
  // Test controls, for a server in another process.
  app.post('/test/stream-failure/:mode', (req, res) => {
    failStreams(req.params.mode as StreamFailure);
    res.json({ failure });
  });
  app.post('/test/jobs', express.json(), async (req, res) => {
    res.json(await registry.enqueue(req.body));
  });
  app.post('/test/jobs/:id', express.json(), async (req, res) => {
    res.json(await registry.update(req.params.id, req.body));
  });
  // A job that runs until the process dies: what the crash test kills mid-way.
  app.post('/test/start-long', async (_req, res) => {
    const job = await registry.run({ category: 'sync-push', target: { peer: 'peer-a' } }, async (ctx) => {
      ctx.progress(0.4, { phase: 'transferring', message: 'Transferring 4 of 10…' });
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    });
    res.json(job);
  });
  app.get('/realtime-jobs.js', async (_req, res) => {
    res.type('text/javascript').send(await readFile(BUNDLE, 'utf8'));
  });
  app.get('/realtime-jobs-list.js', async (_req, res) => {
    res.type('text/javascript').send(await readFile(LIST_BUNDLE, 'utf8'));
  });
  app.get('/{*path}', async (req, res, next) => {
    const html = pages.get(req.path);
    if (html === undefined) return next();
    const query = new URL(req.originalUrl, 'http://x').searchParams;
    try {
      res.type('html').send(typeof html === 'function' ? await html(query) : html);
    } catch (error) {
      res
        .status(400)
        .type('text')
        .send((error as Error).message);
    }
  });

  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(options.port ?? 0, '127.0.0.1', () => resolve(listening));
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    registry,
    streams,
    failStreams,
    page(path, html) {
      pages.set(path, html);
    },
    async close() {
      await registry.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
