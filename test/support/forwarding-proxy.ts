import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

/** One request that went through the proxy, as the app received it. */
export interface ForwardedRequest {
  method: string;
  url: string;
  /** The headers sent on to the app (the client's, plus the X-Forwarded-* this proxy adds). */
  headers: Record<string, string>;
  body: Buffer;
  status: number | null;
}

export interface ForwardingProxy {
  url: string;
  requests: ForwardedRequest[];
  /**
   * Holds the next request that `matches` before it reaches the app; resolves with a `release()` once
   * one arrived. The request was sent with the cookies the browser had then: releasing it later is a
   * slow network or a busy server, made to order.
   */
  holdNext(matches: (req: IncomingMessage) => boolean): Promise<{ url: string; release(): void }>;
  close(): Promise<void>;
}

export interface ForwardingProxyOptions {
  /** The app's port on 127.0.0.1. */
  target: number;
  /** Terminate TLS here (the browser speaks https, the app plain http), as a load balancer does. */
  tls?: { key: string; cert: string };
}

/** Hop-by-hop headers: about one connection, never forwarded. */
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding'];

/**
 * A reverse proxy in front of one app, as a deployment puts one: it appends the client's address to
 * `X-Forwarded-For` and says how the client connected in `X-Forwarded-Proto` (`https` when it
 * terminates TLS). Request bodies are buffered (the app's are small), answers are streamed. Every
 * request is recorded as forwarded, and one can be held back on purpose.
 */
export async function startForwardingProxy(options: ForwardingProxyOptions): Promise<ForwardingProxy> {
  const requests: ForwardedRequest[] = [];
  let hold: { matches: (req: IncomingMessage) => boolean; found: (held: { url: string; release(): void }) => void }[] =
    [];

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (!HOP.includes(name) && value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const client = req.socket.remoteAddress ?? '';
    headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${client}` : client;
    headers['x-forwarded-proto'] = options.tls ? 'https' : 'http';
    headers['content-length'] = String(body.length);
    const record: ForwardedRequest = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers,
      body,
      status: null,
    };
    requests.push(record);
    const upstream = http.request(
      { host: '127.0.0.1', port: options.target, method: req.method, path: req.url, headers, agent: false },
      (answer) => {
        record.status = answer.statusCode ?? null;
        const answerHeaders = Object.fromEntries(
          Object.entries(answer.headers).filter(([name]) => !HOP.includes(name)),
        );
        res.writeHead(answer.statusCode ?? 502, answerHeaders);
        answer.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  };

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const waiting = hold.find((entry) => entry.matches(req));
      if (!waiting) return forward(req, res, body);
      hold = hold.filter((entry) => entry !== waiting);
      waiting.found({ url: req.url ?? '/', release: () => forward(req, res, body) });
    });
  };
  const server = options.tls ? https.createServer(options.tls, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    requests,
    holdNext: (matches) => new Promise((found) => hold.push({ matches, found })),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
