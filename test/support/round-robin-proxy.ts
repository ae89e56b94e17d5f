import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request that went through the proxy. */
export interface Exchange {
  /** Index (in `ports`) of the replica that answered it. */
  replica: number;
  method: string;
  url: string;
  lastEventId: string | null;
  status: number | null;
  /** The text of an event stream, as far as it went (empty for other answers). */
  stream: string;
  /** Until the answer ends: complete, cut by a dead replica, or dropped by the client. */
  open: boolean;
  /** Whether the answer reached its end (a stream cut by a dead replica never does). */
  complete: boolean;
}

export interface RoundRobinProxy {
  url: string;
  exchanges: Exchange[];
  close(): Promise<void>;
}

/** Hop-by-hop headers: about one connection, never forwarded. */
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade'];
const endToEnd = (headers: http.IncomingHttpHeaders) =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP.includes(name)));

/**
 * A small load balancer in front of replicas on 127.0.0.1, as a test needs one: each new client
 * connection goes to the next replica in turn and keeps it for its requests (as keep-alive does behind
 * a real balancer). A replica that refuses the connection is skipped for the next one (nothing reached
 * it, so nothing is sent twice); one that dies mid-answer takes the client connection down with it, so
 * the client's next request opens a new connection. Request bodies are buffered (the app's are small
 * forms), answers are streamed. Every exchange is recorded, with the text of event streams.
 */
export async function startRoundRobinProxy(ports: number[]): Promise<RoundRobinProxy> {
  let turn = 0;
  const replicaOf = new WeakMap<Socket, number>();
  const exchanges: Exchange[] = [];

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, tries: number) => {
    const replica = replicaOf.get(req.socket) ?? 0;
    const upstream = http.request(
      {
        host: '127.0.0.1',
        port: ports[replica],
        method: req.method,
        path: req.url,
        headers: endToEnd(req.headers),
        agent: false,
      },
      (answer) => {
        const exchange: Exchange = {
          replica,
          method: req.method ?? 'GET',
          url: req.url ?? '/',
          lastEventId: (req.headers['last-event-id'] as string | undefined) ?? null,
          status: answer.statusCode ?? null,
          stream: '',
          open: true,
          complete: false,
        };
        exchanges.push(exchange);
        const isStream = String(answer.headers['content-type']).startsWith('text/event-stream');
        res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
        answer.on('data', (chunk: Buffer) => {
          if (isStream) exchange.stream += chunk.toString('utf8');
          res.write(chunk);
        });
        answer.on('end', () => {
          exchange.complete = true;
          res.end();
        });
        answer.on('close', () => {
          exchange.open = false;
          if (!exchange.complete) req.socket.destroy();
        });
      },
    );
    upstream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED' && tries < ports.length) {
        replicaOf.set(req.socket, (replica + 1) % ports.length);
        forward(req, res, body, tries + 1);
      } else if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain', connection: 'close' }).end(`proxy: ${error.message}`);
      } else {
        req.socket.destroy();
      }
    });
    // The client went away (a closed tab, an aborted stream): let go of the replica's side too.
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  };

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    // Gone already (a fetch aborted at once): forwarding now would hold a stream open for no one.
    if (req.socket.destroyed) return;
    forward(req, res, Buffer.concat(chunks), 1);
  });
  server.on('connection', (socket: Socket) => {
    replicaOf.set(socket, turn);
    turn = (turn + 1) % ports.length;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    exchanges,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
