import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { onTestFinished } from 'vitest';
import { jobsRouter } from '../../src/adapters/express.js';
import { jobsPlugin } from '../../src/adapters/fastify.js';
import { toNodeHandler } from '../../src/adapters/node.js';
import { createJobsEndpoint, createJobsHandler, type JobRegistry, type JobsHandlerOptions } from '../../src/index.js';
import { serveFetch } from './fetch-bridge.js';

/** Every way the routes are served: the fetch handler, Express, Fastify and the bare Node bridge. */
export const SERVER_KINDS = ['fetch', 'express', 'fastify', 'node'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export interface RunningServer {
  /** The routes' base URL, e.g. `http://127.0.0.1:40211/api/admin/jobs`. */
  url: string;
  /** The adapter's open stream count. */
  openStreams(): number;
  /** The adapter's own `closeStreams`; arguments go through as given. */
  closeStreams(...args: [principalId?: string]): void;
  /** Shuts the server down the way an app using this adapter does. */
  close(): Promise<void>;
}

const PREFIX = '/api/admin/jobs';

/**
 * Serves the routes over `registry` on a real server on 127.0.0.1, each kind the way its docs show.
 * `authorize` receives that kind's own request (fetch `Request`, Express `req`, Fastify `request`,
 * Node `req`); without one, access is anonymous.
 */
export async function serveRoutes(
  kind: ServerKind,
  registry: JobRegistry,
  // biome-ignore lint/suspicious/noExplicitAny: `authorize` takes the request of `kind`, which each branch's adapter types
  options: JobsHandlerOptions<any> = {},
): Promise<RunningServer> {
  const open = options.authorize ? options : { ...options, allowAnonymous: true };
  if (kind === 'fetch') {
    const handle = createJobsHandler(registry, { ...open, prefix: PREFIX });
    const { server, origin } = await serveFetch((request) => handle(request));
    return running(origin + PREFIX, handle, () => closing(server, handle));
  }
  if (kind === 'express') {
    const app = express();
    const router = jobsRouter(registry, open);
    app.use(PREFIX, router);
    const server = http.createServer(app);
    return running((await listen(server)) + PREFIX, router, () => closing(server, router));
  }
  if (kind === 'fastify') {
    const app = Fastify();
    await app.register(jobsPlugin, { ...open, registry, prefix: PREFIX });
    const origin = await app.listen({ port: 0, host: '127.0.0.1' });
    // The plugin's preClose hook ends the streams.
    return running(origin + PREFIX, app.realtimeJobs, () => app.close());
  }
  const endpoint = createJobsEndpoint(registry, open);
  const handle = toNodeHandler(endpoint, { prefix: PREFIX });
  const server = http.createServer((req, res) => void handle(req, res, req));
  return running((await listen(server)) + PREFIX, endpoint, () => closing(server, endpoint));
}

/** What every adapter offers about its streams. */
interface Streams {
  readonly openStreams: number;
  closeStreams(principalId?: string): void;
}

function running(url: string, streams: Streams, close: () => Promise<void>): RunningServer {
  return {
    url,
    openStreams: () => streams.openStreams,
    closeStreams: (...args) => streams.closeStreams(...args),
    close,
  };
}

/** A node:http server cannot see the streams it serves: the app ends them, then closes the server. */
function closing(server: http.Server, streams: Streams): Promise<void> {
  streams.closeStreams();
  return closeServer(server);
}

/** Listens on a free port of 127.0.0.1 and answers the origin, e.g. `http://127.0.0.1:40211`. */
export async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Listens like {@link listen} for the rest of the test: the server closes when the test ends. */
export async function listenUntilTestEnds(server: http.Server): Promise<string> {
  const origin = await listen(server);
  onTestFinished(() => closeServer(server));
  return origin;
}
