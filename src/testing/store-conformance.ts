// About 340 lines on purpose: one case after another, each a short rule every store keeps; the
// harness that opens stores and records events is in harness.ts.
import assert from 'node:assert/strict';
import type { JobEvent, JobStore } from '../core/store.js';
import type { Job } from '../protocol/job.js';
import { parseEventId } from '../protocol/wire.js';
import { assertAfter, Harness, LOG_LINES, sample, waitUntil } from './harness.js';

/** The storage one run of the suite works on. */
export interface StoreConformanceStorage {
  /** A new store over this storage (not opened yet). Called again for every reopen and every instance. */
  store(): JobStore | Promise<JobStore>;
  /** Removes the storage (files, keys). */
  cleanup?(): Promise<void>;
}

export interface StoreConformanceTarget {
  /** Fresh, empty storage. Every case gets its own. */
  storage(): Promise<StoreConformanceStorage>;
  /**
   * One process owns the storage (memory, JSONL): at reopen, every `queued` or `running` job is an
   * orphan. A shared store (Redis) answers false: there, only jobs whose lease ran out are.
   */
  singleProcess: boolean;
  /** Several stores may hold the storage open at once (a shared store). @default false */
  shared?: boolean;
}

/** One case of the suite: a name and a function that throws (an `AssertionError`) when the store breaks a rule. */
export interface StoreConformanceCase {
  name: string;
  run(): Promise<void>;
}

/**
 * The rules every {@link JobStore} keeps, as cases for any test runner: run each one as a test.
 *
 * @example
 * // vitest or jest
 * for (const { name, run } of storeConformanceCases({ storage: async () => ({ store: () => myStore() }), singleProcess: true })) {
 *   it(name, run);
 * }
 * // node:test
 * for (const { name, run } of storeConformanceCases(target)) test(name, run);
 */
export function storeConformanceCases(target: StoreConformanceTarget): StoreConformanceCase[] {
  const cases: StoreConformanceCase[] = [];
  const add = (name: string, body: (harness: Harness) => Promise<void>) =>
    cases.push({
      name,
      async run() {
        const harness = await Harness.start(target);
        try {
          await body(harness);
        } finally {
          await harness.cleanup();
        }
      },
    });

  add('opens empty storage with no jobs, no orphans and a head at position 0', async (h) => {
    const { store, load } = await h.open();
    assert.deepEqual(load.jobs, []);
    assert.deepEqual(load.orphans, []);
    const head = parseEventId(load.head);
    assert.ok(head, `the head ${JSON.stringify(load.head)} is not an event id`);
    assert.equal(head.major + head.minor, 0);
    assert.equal(store.health().ok, true);
  });

  add('records a new job as one event, delivered before create() resolves, with an id after the head', async (h) => {
    const { store, load, events } = await h.open();
    const job = sample('a', 1);
    const result = await store.create(job);
    assert.equal(result.created, true);
    assert.ok(result.created);
    assert.deepEqual(result.event.job, job);
    assert.deepEqual(events, [result.event], 'onEvent got the event once, before create() resolved');
    assertAfter(result.event.id, load.head);
  });

  add('assigns ids that increase within one epoch, in the order onEvent receives them', async (h) => {
    const { store, events } = await h.open();
    await store.create(sample('a', 1));
    await Promise.all([store.create(sample('b', 1)), store.create(sample('c', 1)), store.write(sample('a', 2))]);
    for (let version = 3; version <= 20; version++) await store.write(sample('a', version));
    assert.equal(events.length, 22);
    const epochs = new Set(events.map((event) => parseEventId(event.id)?.epoch));
    assert.equal(epochs.size, 1, 'one epoch');
    for (let i = 1; i < events.length; i++) assertAfter((events[i] as JobEvent).id, (events[i - 1] as JobEvent).id);
  });

  add('writes only the next version: a stale or skipped version is refused with what is stored', async (h) => {
    const { store, events } = await h.open();
    await store.create(sample('a', 1));
    assert.equal((await store.write(sample('a', 2))).ok, true);
    for (const version of [2, 1, 4]) {
      const result = await store.write(sample('a', version));
      assert.equal(result.ok, false, `version ${version} over stored 2 must be refused`);
      assert.ok(!result.ok);
      assert.deepEqual(result.current, sample('a', 2));
    }
    const unknown = await store.write(sample('nobody', 2));
    assert.deepEqual(unknown, { ok: false, current: null });
    assert.equal(events.length, 2, 'a refused write records no event');
  });

  add('lets exactly one of two racing writers of the same version win', async (h) => {
    const { store } = await h.open();
    await store.create(sample('a', 1));
    for (let version = 2; version <= 30; version++) {
      const [x, y] = await Promise.all([
        store.write({ ...sample('a', version), message: 'x' }),
        store.write({ ...sample('a', version), message: 'y' }),
      ]);
      assert.equal(Number(x.ok) + Number(y.ok), 1, `version ${version}: exactly one write wins`);
    }
  });

  add('answers the busy job holding an idempotency key instead of creating another, until it ends', async (h) => {
    const { store, events } = await h.open();
    const holder = { ...sample('a', 1, 'running'), key: 'push' };
    await store.create(holder);
    const again = await store.create({ ...sample('b', 1, 'queued'), key: 'push' });
    assert.deepEqual(again, { created: false, job: holder });
    const otherTarget = await store.create({ ...sample('c', 1, 'queued'), key: 'push', target: { peer: 'peer-z' } });
    assert.equal(otherTarget.created, true, 'another target is another key');
    const otherCategory = await store.create({ ...sample('d', 1, 'queued'), key: 'push', category: 'other' });
    assert.equal(otherCategory.created, true, 'another category is another key');
    await store.write({ ...sample('a', 2, 'success'), key: 'push' });
    const after = await store.create({ ...sample('e', 1, 'queued'), key: 'push' });
    assert.equal(after.created, true, 'a finished job frees its key');
    assert.equal(events.length, 5);
  });

  add('replays exactly the events after any id it still holds, and resyncs for any other', async (h) => {
    const { store, load, events } = await h.open();
    await store.create(sample('a', 1));
    for (let version = 2; version <= 6; version++) await store.write(sample('a', version));
    await store.create(sample('b', 1));
    const ids = [load.head, ...events.map((event) => event.id)];
    for (let i = 0; i < ids.length; i++) {
      const replay = await store.eventsSince(ids[i] as string);
      assert.equal(replay.kind, 'replay', `resume from ${ids[i]}`);
      assert.ok(replay.kind === 'replay');
      assert.deepEqual(
        replay.events.map((event) => event.id),
        events.slice(i).map((event) => event.id),
      );
      assert.equal(replay.head, ids.at(-1));
    }
    const head = parseEventId(ids.at(-1) as string) as NonNullable<ReturnType<typeof parseEventId>>;
    const resyncs = [
      '',
      'garbage',
      `${head.epoch}x-1`,
      'zzzzzzzzzz-1',
      `${head.epoch}-${head.major + 1000}`,
      `${head.epoch}-${head.major + 1000}-0`,
      `${head.epoch}-${head.major}-${head.minor + 1000}`,
    ];
    for (const id of resyncs) {
      assert.equal((await store.eventsSince(id)).kind, 'resync', `${JSON.stringify(id)} must resync`);
    }
  });

  add('gives back the newest snapshot of each job after a reopen, without removed jobs', async (h) => {
    const first = await h.open();
    await first.store.create(sample('a', 1));
    await first.store.write(sample('a', 2, 'success'));
    await first.store.create(sample('b', 1, 'pending'));
    await first.store.create(sample('c', 1, 'success'));
    await first.store.remove(['c']);
    const oldId = first.events[0]?.id as string;
    await first.store.close();

    const second = await h.open();
    const byId = new Map(second.load.jobs.map((job) => [job.id, job]));
    assert.deepEqual([...byId.keys()].sort(), ['a', 'b']);
    assert.deepEqual(byId.get('a'), sample('a', 2, 'success'));
    assert.deepEqual(byId.get('b'), sample('b', 1, 'pending'));
    const created = await second.store.create(sample('d', 1));
    assert.ok(created.created);
    const replay = await second.store.eventsSince(oldId);
    if (target.singleProcess) {
      // Its replay buffer lived in the process: a new epoch, and ids from before resync.
      assert.notEqual(parseEventId(created.event.id)?.epoch, parseEventId(oldId)?.epoch, 'a new epoch');
      assert.equal(replay.kind, 'resync', 'an id of the old epoch resyncs');
    } else {
      // The history is shared and kept: an id from before still resumes exactly.
      assert.ok(replay.kind === 'replay', 'an id from before the reopen replays');
      assert.deepEqual(
        replay.events.map((event) => event.job),
        [sample('a', 2, 'success'), sample('b', 1, 'pending'), sample('c', 1, 'success'), sample('d', 1)],
      );
    }
  });

  add('keeps every write made right up to close()', async (h) => {
    const first = await h.open();
    await first.store.create(sample('a', 1));
    const writes: Array<Promise<unknown>> = [];
    for (let version = 2; version <= 200; version++) writes.push(first.store.write(sample('a', version, 'pending')));
    await Promise.all(writes);
    await first.store.close();
    const second = await h.open();
    assert.deepEqual(second.load.jobs, [sample('a', 200, 'pending')]);
  });

  add('keeps a pending job and its idempotency key across a reopen', async (h) => {
    const first = await h.open();
    const pending = { ...sample('a', 1, 'pending'), key: 'pull' };
    await first.store.create(pending);
    await first.store.close();
    const second = await h.open();
    assert.deepEqual(second.load.orphans, [], 'a pending job waits for a person, not for its runner');
    const duplicate = await second.store.create({ ...sample('b', 1, 'queued'), key: 'pull' });
    assert.deepEqual(duplicate, { created: false, job: pending });
  });

  add(
    "numbers a job's log lines, keeps the newest, records each as an event, and keeps them across a reopen",
    async (h) => {
      const first = await h.open();
      await first.store.create(sample('a', 1));
      await first.store.create(sample('b', 1));
      const lines = [];
      for (let i = 1; i <= LOG_LINES + 3; i++) {
        const event = await first.store.appendLog(sample('a', 1), {
          at: sample('a', 1).updatedAt,
          level: 'info',
          text: `line ${i}`,
        });
        assert.equal(event.job.id, 'a');
        assert.equal(event.log?.seq, i);
        assert.equal(event.log?.text, `line ${i}`);
        lines.push(event);
      }
      await first.store.appendLog(sample('b', 1), { at: sample('b', 1).updatedAt, level: 'warn', text: 'b says' });
      assert.deepEqual(
        first.events.filter((event) => event.log).map((event) => event.id),
        [...lines.map((event) => event.id), first.events.at(-1)?.id],
        'every line is an event, in order',
      );
      const replay = await first.store.eventsSince(lines[0]?.id as string);
      assert.ok(replay.kind === 'replay');
      assert.equal(replay.events[0]?.log?.seq, 2, 'a replay carries log lines too');
      await first.store.close();
      const second = await h.open();
      assert.deepEqual(
        second.load.logs.a?.map((line) => line.text),
        Array.from({ length: LOG_LINES }, (_, i) => `line ${i + 4}`),
        'the newest lines, oldest first',
      );
      assert.deepEqual(
        second.load.logs.b?.map((line) => [line.seq, line.level]),
        [[1, 'warn']],
      );
      const next = await second.store.appendLog(sample('a', 1), {
        at: sample('a', 1).updatedAt,
        level: 'info',
        text: 'after',
      });
      assert.equal(next.log?.seq, LOG_LINES + 4, 'numbering goes on after a reopen');
      await second.store.remove(['a']);
      await second.store.close();
      const third = await h.open();
      assert.equal(third.load.logs.a, undefined, 'a removed job takes its log with it');
    },
  );

  add(
    'queues jobs in a concurrency slot first come first served, and starts one only when the slot has room',
    async (h) => {
      const { store } = await h.open();
      const slot = { name: 'sync-push peer-a', limit: 1 };
      const queued = (id: string, second: number) => ({
        ...sample(id, 1, 'queued'),
        queuedAt: new Date(Date.UTC(2026, 10, 28, 12, 0, second)).toISOString(),
      });
      const start = (job: Job) => ({ ...job, state: 'running' as const, version: job.version + 1, attempt: 1 });
      const [a, b, c] = [queued('a', 1), queued('b', 2), queued('c', 3)];
      for (const job of [a, b, c]) assert.equal((await store.create(job, { slot })).created, true);
      // c may not overtake b, nor b run beside a.
      assert.deepEqual(await store.write(start(c), { slot }), { ok: false, current: c, busy: true });
      assert.equal((await store.write(start(a), { slot })).ok, true);
      assert.equal((await store.write(start(b), { slot })).ok, false, 'b waits while a runs');
      const done = { ...start(a), state: 'success' as const, version: 3, finishedAt: a.queuedAt };
      assert.equal((await store.write(done)).ok, true, 'a later write need not name the slot');
      assert.equal((await store.write(start(c), { slot })).ok, false, 'still b first');
      assert.equal((await store.write(start(b), { slot })).ok, true);
      // A slot of another name is another queue.
      const other = { ...queued('d', 4) };
      await store.create(other, { slot: { name: 'sync-push peer-b', limit: 1 } });
      assert.equal((await store.write(start(other), { slot: { name: 'sync-push peer-b', limit: 1 } })).ok, true);
    },
  );

  if (target.singleProcess) {
    add('reports the queued and running jobs of the previous process as orphans at reopen', async (h) => {
      const first = await h.open();
      await first.store.create(sample('q', 1, 'queued'));
      await first.store.create(sample('r', 1, 'running'));
      await first.store.create(sample('p', 1, 'pending'));
      await first.store.create(sample('s', 1, 'success'));
      await first.store.close();
      const second = await h.open();
      assert.deepEqual(second.load.orphans.map((job) => job.id).sort(), ['q', 'r']);
    });
  }

  add('refuses to be opened twice at once, closes twice without harm, and flushes when idle', async (h) => {
    const { store } = await h.open();
    await assert.rejects(store.open(h.context([])));
    await store.flush();
    await store.close();
    await store.close();
  });

  if (target.shared) {
    add('shares jobs, events and ids between instances open at once', async (h) => {
      const a = await h.open();
      const b = await h.open();
      const created = await a.store.create(sample('x', 1));
      assert.ok(created.created);
      await a.store.write(sample('x', 2));
      await waitUntil(() => b.events.length === 2, 'instance b receives both events');
      assert.deepEqual(
        b.events.map((event) => event.id),
        a.events.map((event) => event.id),
      );
      // An id handed out by a resumes on b.
      const replay = await b.store.eventsSince(created.event.id);
      assert.ok(replay.kind === 'replay');
      assert.deepEqual(replay.events, [a.events[1]]);
      // Versions are checked across instances, and so are keys.
      assert.equal((await b.store.write(sample('x', 2))).ok, false);
      await b.store.create({ ...sample('k', 1, 'running'), key: 'once' });
      assert.equal((await a.store.create({ ...sample('k2', 1), key: 'once' })).created, false);
    });
  }

  return cases;
}
