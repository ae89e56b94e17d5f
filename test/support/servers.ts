import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { jobsRouter } from '../../src/adapters/express.js';
import { jobsPlugin } from '../../src/adapters/fastify.js';
import { toNodeHandler } from '../../src/adapters/node.js';
import { createJobsEndpoint, createJobsHandler, type JobRegistry, type JobsHandlerOptions } from '../../src/index.js';
import { serveFetch } from '../contract/fetch-bridge.js';

/** Every way the routes are served: the fetch handler, Express, Fastify and the bare Node bridge. */
export const SERVER_KINDS = ['fetch', 'express', 'fastify', 'node'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export interface RunningServer {
  /** The routes' base URL, e.g. `http://127.0.0.1:40211/api/admin/jobs`. */
  url: string;
  close(): Promise<void>;
}

const PREFIX = '/api/admin/jobs';

/** Serves the routes over `registry` on a real server on 127.0.0.1, anonymous access allowed. */
export async function serveRoutes(
  kind: ServerKind,
  registry: JobRegistry,
  options: Omit<JobsHandlerOptions<unknown>, 'authorize' | 'allowAnonymous'> = {},
): Promise<RunningServer> {
  const open = { ...options, allowAnonymous: true };
  if (kind === 'fetch') {
    const handle = createJobsHandler(registry, { ...open, prefix: PREFIX });
    const { server, origin } = await serveFetch((request) => handle(request));
    return { url: origin + PREFIX, close: () => closing(server, () => handle.closeStreams()) };
  }
  if (kind === 'express') {
    const app = express();
    const router = jobsRouter(registry, open);
    app.use(PREFIX, router);
    const server = http.createServer(app);
    return { url: (await listening(server)) + PREFIX, close: () => closing(server, () => router.closeStreams()) };
  }
  if (kind === 'fastify') {
    const app = Fastify();
    await app.register(jobsPlugin, { ...open, registry, prefix: PREFIX });
    const origin = await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: origin + PREFIX, close: () => app.close() };
  }
  const endpoint = createJobsEndpoint(registry, open);
  const handle = toNodeHandler(endpoint, { prefix: PREFIX });
  const server = http.createServer((req, res) => void handle(req, res, req));
  return { url: (await listening(server)) + PREFIX, close: () => closing(server, () => endpoint.closeStreams()) };
}

async function listening(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function closing(server: http.Server, closeStreams: () => void): Promise<void> {
  closeStreams();
  return new Promise((resolve) => server.close(() => resolve()));
}
