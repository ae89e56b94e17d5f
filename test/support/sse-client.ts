import http, { type IncomingHttpHeaders } from 'node:http';
import { createParser } from 'eventsource-parser';
import type { Job } from '../../src/protocol/job.js';

export interface SseEvent {
  id: string | undefined;
  event: string | undefined;
  data: string;
}

/**
 * A real SSE client: one HTTP connection, read as it arrives, parsed by eventsource-parser. It keeps
 * the raw text (tests check exact frames), every event, and the jobs as a client following the wire
 * rules holds them: the newest version of each, and any version that arrived older than one held.
 */
export class SseClient {
  readonly events: SseEvent[] = [];
  raw = '';
  retry: number | undefined;
  /** The id of the last event that carried one: what a reconnecting client would send. */
  lastEventId: string | undefined;
  /** The newest version of each job, as a client that drops older versions holds it. */
  readonly held = new Map<string, Job>();
  /** Versions that arrived older than the one held (a real client drops them). */
  readonly stale: Array<{ jobId: string; held: number; got: number }> = [];
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
        onEvent: (event) => client.#take({ id: event.id, event: event.event, data: event.data }),
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

  /**
   * Resolves when `condition` holds, checked on every chunk that arrives rather than polled: a storm
   * test waits on hundreds of clients at once. Rejects after `timeoutMs`, saying what arrived.
   */
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
  async ready(timeoutMs = 3000): Promise<string> {
    await this.until(() => this.ofType('ready').length > 0, 'ready', timeoutMs);
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

  #take(event: SseEvent): void {
    this.events.push(event);
    if (event.id !== undefined) this.lastEventId = event.id;
    if (event.event !== 'job-update') return;
    const job = JSON.parse(event.data) as Job;
    const held = this.held.get(job.id);
    if (held && held.version > job.version) this.stale.push({ jobId: job.id, held: held.version, got: job.version });
    if (!held || held.version < job.version) this.held.set(job.id, job);
  }

  #notify(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
