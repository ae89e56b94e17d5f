import http, { type IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { createParser } from 'eventsource-parser';
import { waitFor } from '../support/wait.js';

/** A finished HTTP exchange. `json` is the parsed body when it was JSON. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as received (still compressed when `content-encoding` says so). */
  bytes: Buffer;
  body: string;
  json: unknown;
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
    const req = http.request(
      url,
      { method: options.method ?? 'GET', headers: options.headers, agent: false },
      (res) => {
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
      },
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
export function rawRequest(origin: string, target: string, headers: Record<string, string> = {}): Promise<HttpAnswer> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path: target, headers, agent: false }, (res) => {
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
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const body = bytes.toString('utf8');
        const json = /json/.test(res.headers['content-type'] ?? '') && body !== '' ? JSON.parse(body) : undefined;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, body, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * A real SSE client: one HTTP connection, read as it arrives, parsed by eventsource-parser. Keeps the
 * raw text too, so tests can check exact frames.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  raw = '';
  retry: number | undefined;
  ended = false;
  status = 0;
  headers: IncomingHttpHeaders = {};
  #req: http.ClientRequest | null = null;
  readonly #waiters = new Set<() => void>();

  /** Connects and resolves once the response headers are in (any status). */
  static open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = new SseClient();
    return new Promise((resolve, reject) => {
      const parser = createParser({
        onEvent: (event) => client.events.push({ id: event.id, event: event.event, data: event.data }),
        onRetry: (ms) => {
          client.retry = ms;
        },
      });
      // Keep-alive, as browsers ask: servers then answer `Connection: keep-alive` on HTTP/1.1.
      const requestHeaders = { accept: 'text/event-stream', connection: 'keep-alive', ...headers };
      const req = http.get(url, { headers: requestHeaders, agent: false }, (res) => {
        client.status = res.statusCode ?? 0;
        client.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          client.raw += text;
          parser.feed(text);
          client.#notify();
        });
        const end = () => {
          client.ended = true;
          client.#notify();
        };
        res.on('end', end);
        res.on('close', end);
        res.on('error', end);
        resolve(client);
      });
      client.#req = req;
      req.on('error', (error) => {
        client.ended = true;
        client.#notify();
        reject(error);
      });
    });
  }

  /** Events of one type, in arrival order. */
  ofType(type: string): SseEvent[] {
    return this.events.filter((event) => event.event === type);
  }

  /** Job snapshots carried by `job-update` events, in arrival order. */
  jobs(): Array<{ id: string; version: number; state: string; [key: string]: unknown }> {
    return this.ofType('job-update').map((event) => JSON.parse(event.data));
  }

  /** Resolves when `condition` holds, checked on every chunk that arrives; rejects after `timeoutMs`. */
  until(condition: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!condition()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        const seen = this.events.map((event) => event.event ?? 'message').join(', ');
        reject(new Error(`timed out waiting for ${what}; events so far: [${seen}], ended: ${this.ended}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** Waits for the `ready` event and returns its head id. */
  async ready(): Promise<string> {
    await this.until(() => this.ofType('ready').length > 0, 'ready');
    return JSON.parse(this.ofType('ready')[0]!.data).head;
  }

  /** Waits until the server ends the stream. */
  closedByServer(timeoutMs = 3000): Promise<void> {
    return this.until(() => this.ended, 'the server to end the stream', timeoutMs);
  }

  /** Drops the connection, as a closed tab would. */
  close(): void {
    this.#req?.destroy();
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
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

export { waitFor };
