import http from 'node:http';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobFeed } from '../../src/client/index.js';
import { createJobRegistry, type Job, type JobRegistry, memoryStore } from '../../src/index.js';
import { type RunningServer, SERVER_KINDS, serveRoutes } from '../support/servers.js';
import { times } from '../support/times.js';
import { waitFor } from '../support/wait.js';

/**
 * The resume promise, attacked: a client cut off at any byte of any stream (in the snapshot, in a
 * replay, live) that reconnects with the id it holds ends with exactly what a fresh connection shows.
 * Cuts land on every frame boundary of a stream and at random bytes inside frames, while a writer
 * keeps changing jobs, over every way of serving the routes; once with a raw SSE client that follows
 * the wire rules, once with the shipped browser feed.
 */

const JOBS = 100;
/** Frames a fresh stream of JOBS jobs has before its live part: retry, one per job, ready. */
const SNAPSHOT_FRAMES = JOBS + 2;
/** Live frames cut into after the snapshot. */
const LIVE_FRAMES = 24;

interface Cut {
  /** Complete frames to receive before the cut. */
  frames: number;
  /** Where in the next frame to cut, as a fraction of its length; 0 cuts on the boundary. */
  within: number;
}

/** What a client following the wire rules holds. */
class RawClient {
  readonly jobs = new Map<string, Job>();
  lastEventId: string | undefined;

  /** Applies the events of one connection's bytes; an incomplete last event is discarded, as the spec says. */
  apply(bytes: Buffer, sentLastEventId: string | undefined): void {
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    parser.feed(new TextDecoder().decode(bytes));
    // Without Last-Event-ID (or after resync) the server sends a whole snapshot: it replaces what is held.
    let snapshot: Set<string> | null = sentLastEventId === undefined ? new Set() : null;
    for (const event of events) {
      if (event.id !== undefined) this.lastEventId = event.id;
      if (event.event === 'resync') snapshot = new Set();
      if (event.event === 'job-update') {
        const job = JSON.parse(event.data) as Job;
        snapshot?.add(job.id);
        const held = this.jobs.get(job.id);
        if (!held || job.version > held.version) this.jobs.set(job.id, job);
      }
      if (event.event === 'ready' && snapshot) {
        for (const id of this.jobs.keys()) if (!snapshot.has(id)) this.jobs.delete(id);
        snapshot = null;
      }
    }
  }
}

/** Opens a stream and reads it until the cut (or until `ready` when `cut` is null); returns the bytes kept. */
function readStream(url: string, lastEventId: string | undefined, cut: Cut | null): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'text/event-stream' };
    if (lastEventId !== undefined) headers['last-event-id'] = lastEventId;
    let received = Buffer.alloc(0);
    let settled = false;
    const finish = (bytes: Buffer) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(bytes);
    };
    // Live frames come from the writer; a stream that has nothing more in time ends the cut there.
    const timer = setTimeout(() => finish(received), 3000);
    const req = http.get(`${url}/events`, { headers, agent: false }, (res) => {
      res.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const ends = frameEnds(received);
        if (cut === null) {
          if (received.includes('event: ready\n')) {
            const ready = received.indexOf('event: ready\n');
            const end = ends.find((offset) => offset > ready);
            if (end !== undefined) finish(received.subarray(0, end));
          }
          return;
        }
        const start = cut.frames === 0 ? 0 : ends[cut.frames - 1];
        const next = ends[cut.frames];
        if (start === undefined || next === undefined) return;
        finish(received.subarray(0, start + Math.floor(cut.within * (next - start))));
      });
      res.on('end', () => finish(received));
      res.on('error', () => finish(received));
    });
    req.on('error', (error) => (settled ? undefined : reject(error)));
  });
}

/** Byte offsets just after each complete frame (each blank line). */
function frameEnds(bytes: Buffer): number[] {
  const ends: number[] = [];
  for (let at = bytes.indexOf('\n\n'); at !== -1; at = bytes.indexOf('\n\n', at + 1)) ends.push(at + 2);
  return ends;
}

/**
 * Keeps changing the first ten jobs (progress, message, busy states) until stopped; resolves once every
 * write is in. The other jobs never change: a client can only know them from a snapshot, so one it
 * missed stays missed.
 */
function startWriter(registry: JobRegistry, all: string[]) {
  const ids = all.slice(0, 10);
  let running = true;
  let step = 0;
  const writes: Array<Promise<unknown>> = [];
  const timer = setInterval(() => {
    for (let i = 0; i < 3 && running; i++) {
      step++;
      const id = ids[(step * 7) % ids.length] as string;
      const patch =
        step % 9 === 0
          ? { state: (step % 2 ? 'pending' : 'running') as Job['state'], message: `state change ${step}` }
          : { progress: (step % 100) / 100, message: `step ${step}` };
      writes.push(registry.update(id, patch).catch(() => {}));
    }
  }, 2);
  return async () => {
    running = false;
    clearInterval(timer);
    await Promise.all(writes);
  };
}

function compare(held: Map<string, Job>, registry: JobRegistry): { missing: number; stale: number; extra: number } {
  const truth = registry.list({ limit: JOBS });
  let missing = 0;
  let stale = 0;
  for (const job of truth) {
    const mine = held.get(job.id);
    if (!mine) missing++;
    else if (mine.version !== job.version) stale++;
  }
  return { missing, stale, extra: Math.max(0, held.size - truth.length) };
}

describe.each(SERVER_KINDS)('resume after a cut at any byte, over %s', (kind) => {
  let registry: JobRegistry;
  let server: RunningServer;
  let ids: string[];

  beforeAll(async () => {
    // A replay buffer large enough for the whole test: every resume within it is exact, not a resync.
    registry = await createJobRegistry({ store: memoryStore({ replayBufferSize: 100_000 }), onError: () => {} });
    const filler = 'x'.repeat(200);
    ids = await times(
      JOBS,
      async (i) =>
        (await registry.enqueue({ category: 'cut', target: { n: `${i}` }, state: 'running', data: { filler } })).id,
    );
    server = await serveRoutes(kind, registry, { retryMs: 20, heartbeatMs: 60_000 });
  });
  afterAll(async () => {
    await server.close();
    await registry.close();
  });

  /** One client through a series of cuts, then a full resume; what it holds must equal the truth. */
  async function cutThenResume(cuts: Cut[]): Promise<void> {
    const stop = startWriter(registry, ids);
    const client = new RawClient();
    try {
      for (const cut of cuts) {
        const sent = client.lastEventId;
        client.apply(await readStream(server.url, sent, cut), sent);
      }
    } finally {
      await stop();
    }
    const sent = client.lastEventId;
    client.apply(await readStream(server.url, sent, null), sent);
    expect(compare(client.jobs, registry), `cuts ${JSON.stringify(cuts)}`).toEqual({ missing: 0, stale: 0, extra: 0 });
  }

  it('on every frame boundary of a snapshot and of the live part, and one byte into each frame', async () => {
    let points = 0;
    for (let frames = 0; frames <= SNAPSHOT_FRAMES + LIVE_FRAMES; frames++) {
      for (const within of [0, 0.001]) {
        await cutThenResume([{ frames, within }]);
        points++;
      }
    }
    expect(points).toBeGreaterThanOrEqual(2 * (SNAPSHOT_FRAMES + LIVE_FRAMES));
  });

  it('at random bytes, several cuts in a row (snapshot, replay and live parts)', async () => {
    const cut = fc.record({
      frames: fc.integer({ min: 0, max: SNAPSHOT_FRAMES + LIVE_FRAMES }),
      within: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.999, noNaN: true })),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(cut, { minLength: 1, maxLength: 3 }), (cuts) => cutThenResume(cuts)),
      { numRuns: 40 },
    );
  });

  it('with the shipped feed: its streams cut at random bytes, it ends exact', async () => {
    for (let trial = 0; trial < 3; trial++) {
      let cutsLeft = 5;
      let cutAt = 0;
      const cuttingFetch: typeof fetch = async (input, init) => {
        // Polls fail: what the feed holds must come from its resumed streams alone.
        if (!String(input).includes('/events')) return new Response('polling is off in this test', { status: 503 });
        const response = await fetch(input, init);
        if (cutsLeft <= 0 || !response.body) return response;
        cutsLeft--;
        // Anywhere in the first 60 KB: in the snapshot (about 40 KB) or in the live part after it.
        cutAt = Math.floor(Math.random() * 60_000);
        return new Response(truncate(response.body, cutAt), { status: response.status, headers: response.headers });
      };
      const held = new Map<string, Job>();
      const feed = createJobFeed({ url: server.url, fetch: cuttingFetch, maxRetryMs: 50, pollIntervalMs: 100 });
      const off = feed.subscribe({}, (job) => held.set(job.id, job));
      const stop = startWriter(registry, ids);
      try {
        await waitFor(() => cutsLeft === 0, 'every cut to happen', 20_000);
      } finally {
        await stop();
      }
      await waitFor(
        () => {
          const { missing, stale, extra } = compare(held, registry);
          return missing + stale + extra === 0;
        },
        `the feed to converge (last cut at byte ${cutAt}, state ${feed.state})`,
        10_000,
      );
      off();
      feed.close();
    }
  });
});

/** A body that delivers its first `limit` bytes, then fails like a connection reset. */
function truncate(body: ReadableStream<Uint8Array>, limit: number): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      const { done, value } = await reader.read();
      if (done) return controller.close();
      if (sent + value.byteLength < limit) {
        sent += value.byteLength;
        controller.enqueue(value);
        return;
      }
      if (limit > sent) controller.enqueue(value.subarray(0, limit - sent));
      sent = limit;
      void reader.cancel().catch(() => {});
      controller.error(new TypeError('connection reset (cut by the test)'));
    },
    cancel() {
      void reader.cancel().catch(() => {});
    },
  });
}
