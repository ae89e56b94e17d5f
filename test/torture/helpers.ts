import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { toNodeHandler } from '../../src/adapters/node.js';
import { createJobsEndpoint, type JobRegistry, type JobsEndpoint, type JobsHandlerOptions } from '../../src/index.js';
import type { Job } from '../../src/protocol/job.js';
import { waitFor } from '../support/wait.js';

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

/** One real SSE client over node:http, parsed by eventsource-parser, that applies jobs like the browser feed. */
export interface SseClient {
  readonly events: EventSourceMessage[];
  /** The newest version of each job this client applied. */
  readonly jobs: Map<string, Job>;
  /** Versions that arrived not newer than what the client held (a real client drops them). */
  readonly stale: Array<{ jobId: string; held: number; got: number }>;
  lastEventId: string | undefined;
  status: number;
  readonly ended: Promise<void>;
  /** Resolves once an event of this type (after `from` events) has arrived. */
  waitFor(type: string, from?: number): Promise<EventSourceMessage>;
  close(): void;
}

export function connectSse(
  url: string,
  options: { headers?: Record<string, string>; socketPath?: string; agent?: http.Agent } = {},
): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const waiters = new Set<{ type: string; from: number; resolve: (event: EventSourceMessage) => void }>();
    const client: SseClient = {
      events: [],
      jobs: new Map(),
      stale: [],
      lastEventId: undefined,
      status: 0,
      ended: Promise.resolve(),
      waitFor(type, from = 0) {
        const found = client.events.slice(from).find((event) => event.event === type);
        if (found) return Promise.resolve(found);
        return new Promise((done) => waiters.add({ type, from, resolve: done }));
      },
      close() {
        request.destroy();
      },
    };
    const parser = createParser({
      onEvent(event) {
        client.events.push(event);
        if (event.id !== undefined) client.lastEventId = event.id;
        if (event.event === 'job-update') {
          const job = JSON.parse(event.data) as Job;
          const held = client.jobs.get(job.id);
          if (held && held.version > job.version)
            client.stale.push({ jobId: job.id, held: held.version, got: job.version });
          if (!held || held.version < job.version) client.jobs.set(job.id, job);
        }
        for (const waiter of waiters) {
          if (waiter.type === event.event && client.events.length > waiter.from) {
            waiters.delete(waiter);
            waiter.resolve(event);
          }
        }
      },
    });
    const target = new URL(url);
    const request = http.get(
      {
        hostname: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        headers: { accept: 'text/event-stream', ...options.headers },
        agent: options.agent ?? false,
        ...(options.socketPath ? { socketPath: options.socketPath } : {}),
      },
      (response) => {
        client.status = response.statusCode ?? 0;
        const decoder = new StringDecoder('utf8');
        (client as { ended: Promise<void> }).ended = new Promise((done) => {
          response.on('end', done);
          response.on('close', done);
          response.on('error', done);
        });
        response.on('data', (chunk: Buffer) => parser.feed(decoder.write(chunk)));
        resolve(client);
      },
    );
    request.on('error', reject);
  });
}

/** Polls `check` until it holds, or fails with `what` after `timeoutMs`. */
export const until = (check: () => boolean, what: string, timeoutMs = 20_000) => waitFor(check, what, timeoutMs);

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
