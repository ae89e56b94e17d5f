import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { describe, expect, it, vi } from 'vitest';
import { testRegistry as registry } from '../../test/support/registries.js';
import { waitFor } from '../../test/support/wait.js';
import { createJobRegistry } from './registry.js';
import { encodeSseMessage } from './sse.js';
import { JobStream, type StreamSink } from './stream.js';

/** A sink that parses what it is given and can pretend its reader fell behind. */
function recordingSink() {
  const events: EventSourceMessage[] = [];
  const parser = createParser({ onEvent: (event) => events.push(event) });
  const decoder = new TextDecoder();
  const sink: StreamSink & { accepting: boolean; ended: boolean; bytes: number } = {
    accepting: true,
    ended: false,
    bytes: 0,
    write(chunk: Uint8Array) {
      sink.bytes += chunk.byteLength;
      parser.feed(decoder.decode(chunk, { stream: true }));
      return sink.accepting;
    },
    end() {
      sink.ended = true;
    },
  };
  return { sink, events };
}

const options = {
  filter: {},
  lastEventId: undefined,
  retryMs: 1000,
  maxBufferedBytes: 1 << 20,
  stallTimeoutMs: 60_000,
  snapshotLimit: 100,
};

/** Waits for `ready`: the snapshot or the replay (a round trip to the store) is out. */
const ready = (events: EventSourceMessage[]) =>
  waitFor(() => events.some((event) => event.event === 'ready'), 'the stream to send ready');

describe('JobStream', () => {
  it('sends a snapshot newest first without ids, then ready carrying the head id, then live events', async () => {
    const jobs = await registry();
    const older = await jobs.enqueue({ category: 'c' });
    const newer = await jobs.enqueue({ category: 'c' });
    const { sink, events } = recordingSink();
    new JobStream(jobs, options).start(sink);
    const head = jobs.head();
    // A client cut off mid-snapshot keeps the id it had before, so its next connection starts over.
    expect(events.map((event) => [event.event, event.id])).toEqual([
      ['job-update', undefined],
      ['job-update', undefined],
      ['ready', head],
    ]);
    expect(events.slice(0, 2).map((event) => JSON.parse(event.data).id)).toEqual([newer.id, older.id]);
    expect(JSON.parse(events[2]?.data as string)).toEqual({ head });
    await jobs.update(older.id, { progress: 0.5 });
    expect(events.at(-1)).toMatchObject({ event: 'job-update', id: jobs.head() });
  });

  it('replays exactly the missed events with no snapshot', async () => {
    const jobs = await registry();
    const job = await jobs.enqueue({ category: 'c' });
    const resumeFrom = jobs.head();
    await jobs.update(job.id, { progress: 0.1 });
    await jobs.update(job.id, { progress: 0.2 });
    const { sink, events } = recordingSink();
    new JobStream(jobs, { ...options, lastEventId: resumeFrom }).start(sink);
    await ready(events);
    expect(events.map((event) => event.event)).toEqual(['job-update', 'job-update', 'ready']);
    expect(events.slice(0, 2).map((event) => JSON.parse(event.data).progress)).toEqual([0.1, 0.2]);
    // Each replayed event carries its own id, and ready the position the replay reached.
    expect(events.map((event) => event.id)).toEqual([...events.slice(0, 2).map((event) => event.id), jobs.head()]);
    expect(events[1]?.id).toBe(jobs.head());
  });

  it('sends resync and a fresh snapshot for an id it cannot replay', async () => {
    const jobs = await registry();
    await jobs.enqueue({ category: 'c' });
    const { sink, events } = recordingSink();
    new JobStream(jobs, { ...options, lastEventId: 'old0epoch-5' }).start(sink);
    await ready(events);
    expect(events.map((event) => event.event)).toEqual(['resync', 'job-update', 'ready']);
    expect(events.map((event) => event.id)).toEqual([undefined, undefined, jobs.head()]);
  });

  it('while the reader is behind, keeps the newest snapshot per job and state, never losing a state a job went through', async () => {
    const jobs = await registry();
    const a = await jobs.enqueue({ category: 'c' });
    const b = await jobs.enqueue({ category: 'c' });
    const { sink, events } = recordingSink();
    const stream = new JobStream(jobs, options);
    stream.start(sink);
    const before = events.length;
    sink.accepting = false;
    await jobs.update(a.id, { state: 'running' }); // written (the write that reports "full"), then queueing starts
    await jobs.update(b.id, { state: 'pending' });
    await jobs.update(b.id, { state: 'running' });
    await jobs.update(b.id, { state: 'pending' });
    for (let i = 1; i <= 50; i++) await jobs.update(a.id, { progress: i / 100 });
    await jobs.update(b.id, { state: 'running' });
    for (let i = 1; i <= 50; i++) await jobs.update(b.id, { progress: i / 100 });
    await jobs.update(a.id, { state: 'success' });
    await jobs.update(b.id, { progress: 0.99 });
    sink.accepting = true;
    stream.resume();
    const received = events.slice(before).map((event) => {
      const job = JSON.parse(event.data);
      return `${job.id === a.id ? 'a' : 'b'}:${job.state}:${job.progress}`;
    });
    // Every state each job went through arrives, in order; only snapshots superseded by a newer one in
    // the same state are dropped (b's last entry into `running` gives way to its 0.99 snapshot).
    expect(received).toEqual([
      'a:running:null',
      'b:pending:null',
      'b:running:null',
      'b:pending:null',
      'a:running:0.5',
      'a:success:1',
      'b:running:0.99',
    ]);
    const ids = events.slice(before).map((event) => Number(event.id?.split('-')[1]));
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
  });

  it('disconnects a reader stuck past the byte limit and releases everything', async () => {
    const jobs = await registry();
    const job = await jobs.enqueue({ category: 'c' });
    const { sink } = recordingSink();
    const stream = new JobStream(jobs, { ...options, maxBufferedBytes: 4096 });
    let cleaned = false;
    stream.onClose(() => {
      cleaned = true;
    });
    stream.start(sink);
    expect(jobs.health().subscribers).toBe(1);
    sink.accepting = false;
    // State changes cannot be coalesced, so they pile up until the limit.
    for (let i = 0; i < 40; i++)
      await jobs.update(job.id, { state: i % 2 ? 'running' : 'pending', message: 'x'.repeat(100) });
    // A reader still behind once the event loop turns is stuck.
    await waitFor(() => stream.closed, 'the stream to close');
    expect(stream.closeReason).toBe('evicted');
    expect(sink.ended).toBe(true);
    expect(cleaned).toBe(true);
    expect(jobs.health().subscribers).toBe(0);
  });

  it('keeps a reader that falls behind during one burst but catches up in the same tick', async () => {
    const jobs = await registry();
    const job = await jobs.enqueue({ category: 'c' });
    const { sink, events } = recordingSink();
    const stream = new JobStream(jobs, { ...options, maxBufferedBytes: 4096 });
    stream.start(sink);
    sink.accepting = false;
    for (let i = 0; i < 40; i++) {
      await jobs.update(job.id, { state: i % 2 ? 'running' : 'pending', message: 'x'.repeat(100) });
    }
    sink.accepting = true;
    stream.resume();
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.closed).toBe(false);
    expect(JSON.parse(events.at(-1)?.data as string).version).toBe(41);
  });

  it('ends when the registry closes', async () => {
    const jobs = await createJobRegistry();
    const { sink } = recordingSink();
    const stream = new JobStream(jobs, options);
    stream.start(sink);
    await jobs.close();
    expect(stream.closeReason).toBe('registry-closed');
    expect(sink.ended).toBe(true);
  });

  it('filters by scope, in the snapshot and live', async () => {
    const jobs = await registry();
    await jobs.enqueue({ category: 'c', scope: 'ops' });
    const visible = await jobs.enqueue({ category: 'c', scope: 'admin' });
    const { sink, events } = recordingSink();
    new JobStream(jobs, { ...options, filter: { scopes: ['admin'] } }).start(sink);
    await jobs.enqueue({ category: 'c', scope: 'ops' });
    const ids = events.filter((event) => event.event === 'job-update').map((event) => JSON.parse(event.data).id);
    expect(ids).toEqual([visible.id]);
  });
  it('writes a snapshot far over maxBufferedBytes to a reader that keeps reading, and sends live events after ready', async () => {
    const jobs = await registry();
    const filler = 'x'.repeat(30_000);
    for (let i = 0; i < 100; i++) await jobs.enqueue({ category: 'c', data: { filler } });
    const { sink, events } = recordingSink();
    // The reader takes one frame, then is full until it is resumed: every write waits for the reader.
    let writes = 0;
    const write = sink.write;
    sink.write = (chunk) => {
      write(chunk);
      writes++;
      return false;
    };
    const stream = new JobStream(jobs, { ...options, maxBufferedBytes: 4096 });
    stream.start(sink);
    const live = await jobs.enqueue({ category: 'c' });
    const liveArrived = () => events.some((event) => event.event === 'job-update' && event.id !== undefined);
    // The reader takes one frame per turn of the event loop, as a socket that drains between writes.
    for (let turn = 0; turn < 300 && !stream.closed && !liveArrived(); turn++) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      stream.resume();
    }
    expect(stream.closed).toBe(false);
    const names = events.map((event) => event.event);
    expect(names.filter((name) => name === 'job-update')).toHaveLength(101);
    expect(names.indexOf('ready')).toBe(100);
    expect(JSON.parse(events.at(-1)?.data as string).id).toBe(live.id);
    expect(events.at(-1)?.id).toBe(jobs.head());
    expect(writes).toBeGreaterThan(100);
  });

  it('disconnects a reader that takes nothing for stallTimeoutMs, even with little waiting', async () => {
    const jobs = await registry();
    await jobs.enqueue({ category: 'c' });
    const { sink } = recordingSink();
    sink.accepting = false;
    const stream = new JobStream(jobs, { ...options, stallTimeoutMs: 30 });
    stream.start(sink);
    await waitFor(() => stream.closeReason === 'evicted', 'the stalled reader to be evicted');
  });

  it('keeps a slow reader that takes something before stallTimeoutMs each time', async () => {
    const jobs = await registry();
    for (let i = 0; i < 5; i++) await jobs.enqueue({ category: 'c' });
    const { sink, events } = recordingSink();
    sink.accepting = false;
    // On a fake clock: the reader takes something every 50 ms exactly, however busy the machine is.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const stream = new JobStream(jobs, { ...options, stallTimeoutMs: 200 });
      stream.start(sink);
      for (let i = 0; i < 8; i++) {
        await vi.advanceTimersByTimeAsync(50);
        stream.resume();
      }
      expect(stream.closed).toBe(false);
      expect(events.map((event) => event.event)).toContain('ready');
      stream.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('holds live events that arrive while a replay is fetched, and sends only those past it', async () => {
    const jobs = await registry();
    const job = await jobs.enqueue({ category: 'c' });
    const from = jobs.head();
    await jobs.update(job.id, { progress: 0.1 });
    const { sink, events } = recordingSink();
    new JobStream(jobs, { ...options, lastEventId: from }).start(sink);
    // The replay is not back yet: this change must come after it, once.
    await jobs.update(job.id, { progress: 0.2 });
    await ready(events);
    await jobs.update(job.id, { progress: 0.3 });
    const updates = events.filter((event) => event.event === 'job-update');
    expect(updates.map((event) => JSON.parse(event.data).progress)).toEqual([0.1, 0.2, 0.3]);
    const ids = events.filter((event) => event.id).map((event) => event.id as string);
    expect(new Set(ids).size).toBe(ids.length - 1); // ready repeats the last replayed id, nothing else repeats
  });

  it('a last frame goes out before the end even while the reader is behind; what waited is dropped', async () => {
    const jobs = await registry();
    const job = await jobs.enqueue({ category: 'c' });
    const { sink, events } = recordingSink();
    const stream = new JobStream(jobs, options);
    stream.start(sink);
    sink.accepting = false;
    await jobs.update(job.id, { state: 'running' });
    // The first write after the reader fell behind goes out; this one waits in the queue.
    await jobs.update(job.id, { state: 'pending' });
    const sent = events.length;
    expect(JSON.parse(events.at(-1)?.data as string).state).toBe('running');
    stream.close('denied', encodeSseMessage({ event: 'denied', data: '{"reason":"unauthorized"}' }));
    expect(stream.closeReason).toBe('denied');
    expect(sink.ended).toBe(true);
    expect(events.slice(sent)).toEqual([{ id: undefined, event: 'denied', data: '{"reason":"unauthorized"}' }]);
    // Nothing once closed, the queue included.
    stream.resume();
    await jobs.update(job.id, { message: 'late' });
    expect(events.length).toBe(sent + 1);
  });

  it("with logs: a snapshot carries each job's kept lines, live lines follow with ids, never coalesced", async () => {
    const jobs = await registry();
    let log: ((text: string) => Promise<void>) | undefined;
    let release = () => {};
    const job = await jobs.run({ category: 'c' }, async (ctx) => {
      log = (text) => ctx.log(text);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await vi.waitFor(() => expect(log).toBeDefined());
    await log?.('before');
    const { sink, events } = recordingSink();
    const stream = new JobStream(jobs, { ...options, logs: true });
    stream.start(sink);
    expect(events.map((event) => [event.event, event.id])).toEqual([
      ['job-update', undefined],
      ['job-log', undefined],
      ['ready', jobs.head()],
    ]);
    expect(JSON.parse(events[1]?.data as string)).toMatchObject({ jobId: job.id, lines: [{ seq: 1, text: 'before' }] });
    sink.accepting = false;
    await jobs.update(job.id, { progress: 0.1 });
    for (let i = 1; i <= 3; i++) await log?.(`while behind ${i}`);
    await jobs.update(job.id, { progress: 0.2 });
    sink.accepting = true;
    stream.resume();
    const live = events
      .slice(3)
      .map((event) => [event.event, JSON.parse(event.data).lines?.[0]?.text ?? JSON.parse(event.data).progress]);
    expect(live).toEqual([
      ['job-update', 0.1],
      ['job-log', 'while behind 1'],
      ['job-log', 'while behind 2'],
      ['job-log', 'while behind 3'],
      ['job-update', 0.2],
    ]);
    // A stream without logs sends none.
    const plain = recordingSink();
    new JobStream(jobs, options).start(plain.sink);
    await log?.('unseen');
    expect(plain.events.map((event) => event.event)).toEqual(['job-update', 'ready']);
    release();
  });
});
