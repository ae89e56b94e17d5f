import { mkdtemp, rm } from 'node:fs/promises';
import type http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRegistry, type JobRegistry } from '../../src/index.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor } from '../support/wait.js';
import { connectMany, PATIENCE_MS, startServer, type TestServer } from './helpers.js';

// A reader that never reads, among 200 that do. Loopback TCP buffers about 4 MB per connection before
// a write blocks, which would mean pushing gigabytes through 200 readers; a Unix socket blocks after
// about 200 KB. So the staller connects over a Unix socket to a second listener of the same routes
// (same endpoint, same registry, same code path), and the readers use TCP.
const READERS = 200;
const JOBS = 30;
const ROUNDS = 4;
const MAX_BUFFERED = 16 * 1024;
const FILLER = 3000;

describe('a slow reader among 200 fast ones', () => {
  let registry: JobRegistry;
  let server: TestServer;
  let dir: string;
  let stallerSide: http.Server;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rj-slow-'));
    registry = await createJobRegistry({ onError: () => {} });
    server = await startServer(registry, { maxBufferedBytes: MAX_BUFFERED, heartbeatMs: 60_000 });
    stallerSide = await server.listenAlso(join(dir, 'jobs.sock'));
  });

  afterAll(async () => {
    await server.close();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('evicts the stalled one, keeps memory bounded and delivers everything to the others', async () => {
    const readers = await connectMany(READERS, () => connectSseReady(`${server.url}/events`));

    // The staller's response as the server holds it: what Node buffers for it is server memory.
    let stallerResponse: http.ServerResponse | undefined;
    stallerSide.once('request', (_req, res) => {
      stallerResponse = res;
    });
    const staller = net.connect(join(dir, 'jobs.sock'));
    let stallerHeaders = '';
    await new Promise<void>((resolve) => staller.once('connect', resolve));
    staller.write('GET /jobs/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n');
    // Read only the response head, then never again.
    await new Promise<void>((resolve) => {
      staller.on('data', function head(chunk: Buffer) {
        stallerHeaders += chunk.toString('latin1');
        if (stallerHeaders.includes('\r\n\r\n')) {
          staller.off('data', head);
          staller.pause();
          resolve();
        }
      });
    });
    expect(stallerHeaders).toMatch(/^HTTP\/1\.1 200/);
    await waitFor(() => server.endpoint.openStreams === READERS + 1, 'every stream to open', PATIENCE_MS);
    let mostBuffered = 0;

    // Each job carries 3 KB of data: the staller's socket buffer fills, then its queue passes 16 KB.
    const filler = 'x'.repeat(FILLER);
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) {
      ids.push((await registry.enqueue({ category: 'bulk', target: { n: String(i) }, data: { filler } })).id);
    }
    const caughtUp = (reader: SseClient) =>
      ids.every((id) => reader.held.get(id)?.version === registry.get(id)?.version);
    for (let round = 0; round < ROUNDS; round++) {
      for (const id of ids)
        await registry.update(id, { progress: (round + 1) / (ROUNDS + 1), data: { filler, round } });
      // Let the readers (in this same process) drain between rounds, as real clients would.
      mostBuffered = Math.max(mostBuffered, stallerResponse?.writableLength ?? 0);
      await waitFor(() => readers.every(caughtUp), `round ${round} delivered`, PATIENCE_MS);
    }
    for (const id of ids) await registry.update(id, { state: 'success' });

    await waitFor(() => server.endpoint.openStreams === READERS, 'the stalled stream to be evicted', PATIENCE_MS);
    // The streams share one registry subscription; the evicted one left it to the others.
    expect(registry.health().subscribers).toBe(1);

    await waitFor(() => readers.every(caughtUp), 'final states delivered', PATIENCE_MS);
    for (const reader of readers) {
      expect(reader.stale).toEqual([]);
      for (const id of ids) {
        expect(reader.held.get(id)?.version).toBe(registry.get(id)?.version);
        expect(reader.held.get(id)?.state).toBe('success');
      }
    }
    // It was sent far more than it read, yet Node never held more than one socket buffer's worth for
    // it, and its queue (bounded by maxBufferedBytes) went away with the eviction.
    // More than Node's buffer, the Unix socket's (about 210 KB) and the queue limit could ever absorb.
    const sentPerReader = JOBS * (ROUNDS + 1) * FILLER;
    expect(sentPerReader).toBeGreaterThan(1.5 * (MAX_BUFFERED + MAX_BUFFERED + 230_000));
    // Node's own buffer for it never grew past its high-water mark (16 KB) and one frame.
    expect(mostBuffered).toBeLessThan(16 * 1024 + 2 * FILLER);

    // The server ended the staller's response; once it reads again it sees the end.
    const ended = new Promise<void>((resolve) => staller.on('end', resolve));
    staller.on('data', () => {});
    staller.resume();
    await ended;
    staller.destroy();
    for (const reader of readers) reader.close();
  }, 60_000);
});

describe('a burst bigger than maxBufferedBytes within one tick', () => {
  it('reaches a fast reader whole: snapshot, replay and live, without eviction', async () => {
    const registry = await createJobRegistry({ onError: () => {} });
    const server = await startServer(registry, { maxBufferedBytes: MAX_BUFFERED });
    try {
      const filler = 'y'.repeat(8000);
      // 100 jobs of 8 KB: an 800 KB snapshot, fifty times the limit, sent in one tick.
      for (let i = 0; i < 100; i++) await registry.enqueue({ category: 'big', data: { filler, i } });
      const first = await connectSseReady(`${server.url}/events`);
      expect(first.held.size).toBe(100);
      const resumeFrom = first.lastEventId as string;
      first.close();

      const ids = [...first.held.keys()];
      for (const id of ids) await registry.update(id, { progress: 0.5, data: { filler, again: true } });
      const resumed = await connectSseReady(`${server.url}/events`, { 'last-event-id': resumeFrom });
      expect(resumed.events.some((event) => event.event === 'resync')).toBe(false);
      expect(resumed.held.size).toBe(100);
      for (const id of ids) await registry.update(id, { state: 'success' });
      await waitFor(
        () => ids.every((id) => resumed.held.get(id)?.state === 'success'),
        'live burst delivered',
        PATIENCE_MS,
      );
      expect(server.endpoint.openStreams).toBe(1);
      resumed.close();
    } finally {
      await server.close();
      await registry.close();
    }
  });
});

async function connectSseReady(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await SseClient.open(url, headers);
  await client.ready(PATIENCE_MS);
  return client;
}
