import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A few model entries in the shape the real `GET /v1/models` answers. */
const MODELS = [
  { id: 'openai/gpt-4o-mini', provider: 'openai', display_name: 'GPT-4o mini' },
  { id: 'anthropic/claude-3-5-haiku-20241022', provider: 'anthropic', display_name: 'Claude 3.5 Haiku' },
  { id: 'google/gemini-1.5-flash', provider: 'google', display_name: 'Gemini 1.5 Flash' },
].map((model) => ({ object: 'model', created_at: '2024-10-22T00:00:00Z', ...model }));

/**
 * A local stand-in for the Dedalus API, enough for the SDK's `models.list()`: the app and its tests
 * run offline against it, through the real SDK and real HTTP. A known key gets the model list; any
 * other gets `401` with an error body, which the SDK raises as `AuthenticationError`.
 */
export async function startDedalusStandIn({
  port = 0,
  host = '127.0.0.1',
  keys,
  delayMs = 400,
}: {
  port?: number;
  host?: string;
  keys: readonly string[];
  delayMs?: number;
}): Promise<{ url: string; close(): Promise<void> }> {
  if (!Array.isArray(keys) || keys.length === 0) throw new Error('startDedalusStandIn: `keys` must list valid keys');
  const valid = new Set(keys);
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const key = bearer ?? req.headers['x-api-key'];
    // The delay stands in for a real network round trip, so the "calling" phase is visible.
    setTimeout(() => {
      if (req.method !== 'GET' || url.pathname !== '/v1/models') {
        return send(404, { error: { message: `No route for ${req.method} ${url.pathname}`, type: 'not_found' } });
      }
      if (!key || !valid.has(key)) {
        return send(401, {
          error: { message: 'Invalid API key', type: 'authentication_error', code: 'invalid_api_key' },
        });
      }
      send(200, { object: 'list', data: MODELS });
    }, delayMs).unref();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
