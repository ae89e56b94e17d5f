import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

/**
 * A minimal Node server for a fetch handler (test only; Hono's node-server does this in production):
 * Node request → `Request`, `Response` → Node response, with backpressure both ways and an aborted
 * `request.signal` when the client leaves.
 */
export async function serveFetch(
  handle: (request: Request) => Promise<Response>,
): Promise<{ server: Server; origin: string }> {
  const server = http.createServer(async (req, res) => {
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    const headers = new Headers();
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    const init = {
      method: req.method,
      headers,
      signal: controller.signal,
      body: hasBody ? (Readable.toWeb(req) as ReadableStream<Uint8Array>) : undefined,
      // Node's fetch needs this for a streamed request body.
      duplex: 'half',
    };
    const response = await handle(new Request(`http://${req.headers.host}${req.url}`, init as RequestInit));
    res.writeHead(response.status, [...response.headers].flat());
    if (!response.body) {
      res.end();
      return;
    }
    res.flushHeaders();
    const reader = response.body.getReader();
    controller.signal.addEventListener('abort', () => void reader.cancel().catch(() => {}));
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done || res.destroyed) break;
        if (!res.write(value)) {
          await new Promise<void>((resolve) => {
            // Whichever comes first removes both, or a long stream piles up `close` listeners.
            const done = () => {
              res.off('drain', done);
              res.off('close', done);
              resolve();
            };
            res.once('drain', done);
            res.once('close', done);
          });
        }
      }
    } catch {
      // Cancelled because the client left.
    }
    if (!res.destroyed) res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
