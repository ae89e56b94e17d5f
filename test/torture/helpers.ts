import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { toNodeHandler } from '../../src/adapters/node.js';
import { createJobsEndpoint, type JobRegistry, type JobsEndpoint, type JobsHandlerOptions } from '../../src/index.js';
import type { SseClient } from '../support/sse-client.js';

/** How long a torture test waits for something to happen: two cores shared with hundreds of clients. */
export const PATIENCE_MS = 20_000;

/** A real node:http server serving the job routes the way both adapters do (through `toNodeHandler`). */
export interface TestServer {
  readonly url: string;
  readonly endpoint: JobsEndpoint<IncomingMessage>;
  /** Listens on one more address (a Unix socket) with the same routes; see the slow-reader test. */
  listenAlso(path: string): Promise<http.Server>;
  close(): Promise<void>;
}

export async function startServer(
  registry: JobRegistry,
  options: Partial<JobsHandlerOptions<IncomingMessage>> = {},
): Promise<TestServer> {
  const endpoint = createJobsEndpoint<IncomingMessage>(registry, {
    allowAnonymous: true,
    maxStreamsPerPrincipal: 100_000,
    onError: () => {},
    ...options,
  });
  const handle = toNodeHandler(endpoint, { prefix: '/jobs' });
  const servers: http.Server[] = [];
  const create = () => {
    const server = http.createServer((req, res) => {
      handle(req, res, req).catch((error) => {
        res.statusCode = 500;
        res.end(String(error));
      });
    });
    servers.push(server);
    return server;
  };
  const main = create();
  // A reconnect storm opens hundreds of connections at once: a deep accept queue, as a real server has.
  await new Promise<void>((resolve) => main.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, resolve));
  const { port } = main.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jobs`,
    endpoint,
    async listenAlso(path) {
      const extra = create();
      await new Promise<void>((resolve) => extra.listen(path, resolve));
      return extra;
    },
    async close() {
      endpoint.closeStreams();
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.closeAllConnections();
              server.close(() => resolve());
            }),
        ),
      );
    },
  };
}

/** Opens many clients with bounded concurrency, so the listen backlog never overflows. */
export async function connectMany(
  count: number,
  open: (index: number) => Promise<SseClient>,
  concurrency = 100,
): Promise<SseClient[]> {
  const clients: SseClient[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const index = next++;
        clients[index] = await open(index);
      }
    }),
  );
  return clients;
}
