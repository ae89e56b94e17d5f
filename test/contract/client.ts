import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import net from 'node:net';

// test/e2e imports the SSE client from here; its home is test/support.
export { SseClient } from '../support/sse-client.js';

/** A finished HTTP exchange. `json` is the parsed body when it was JSON. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as received (still compressed when `content-encoding` says so). */
  bytes: Buffer;
  body: string;
  json: unknown;
}

/** Reads a whole answer; its body is parsed when it is JSON and not compressed. */
function readAnswer(res: IncomingMessage): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('error', reject);
    res.on('end', () => {
      const bytes = Buffer.concat(chunks);
      const body = bytes.toString('utf8');
      let json: unknown;
      const plain = res.headers['content-encoding'] === undefined;
      if (plain && /json/.test(res.headers['content-type'] ?? '') && body !== '') json = JSON.parse(body);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, body, json });
    });
  });
}

/**
 * One request on its own connection (no keep-alive pool), so a test controls exactly when the
 * connection ends and no socket outlives it.
 */
export function request(
  url: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) =>
      readAnswer(res).then(resolve, reject),
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * A GET whose request target goes on the wire exactly as given (`//x]`, `/\%zz`, `/..`): with `path`,
 * Node writes it into the request line untouched, where a URL (fetch, `request()` above) would be
 * parsed and normalized first. A stream answer is cut as soon as its headers are in.
 */
export function rawRequest(
  origin: string,
  target: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<HttpAnswer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: target, headers, method, agent: false }, (res) => {
      if ((res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        req.destroy();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          bytes: Buffer.alloc(0),
          body: '',
          json: undefined,
        });
        return;
      }
      readAnswer(res).then(resolve, reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Opens a stream on a raw socket and never reads from it: the server's writes back up through the
 * kernel buffers until its own `write` says "full", like a reader on a frozen tab or a dead network.
 */
export function openStalledStream(url: string, headers: Record<string, string>): Promise<net.Socket> {
  const { hostname, port, pathname, search } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: hostname, port: Number(port) }, () => {
      const lines = [`GET ${pathname}${search} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Accept: text/event-stream'];
      for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
      resolve(socket);
    });
    socket.on('error', reject);
  });
}
