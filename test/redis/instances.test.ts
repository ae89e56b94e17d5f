import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_MESSAGE } from '../../src/core/registry.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor } from '../support/wait.js';
import { dropPrefix, freshPrefix, REDIS_URL } from './helpers.js';
import { Instance, PrivateRedis } from './instances.js';

/**
 * Several instances of an app, each in its own process, sharing one Redis: what a browser sees must
 * not depend on which instance it talks to.
 */

const LEASE_MS = 1000;
/**
 * The lease of the instances the tests share: long, so that a process the machine starves of CPU for a
 * moment (two cores, many processes) is not taken for dead. Tests of a lease running out start an
 * instance of their own with LEASE_MS.
 */
const SHARED_LEASE_MS = 10_000;
const clients: SseClient[] = [];
async function stream(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const client = await SseClient.open(`${url}/events`, headers);
  clients.push(client);
  return client;
}
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

/** The `job-update` snapshots a client got for one job, in arrival order. */
const versionsOf = (client: SseClient, id: string) =>
  client
    .jobs()
    .filter((job) => job.id === id)
    .map((job) => job.version);

describe('three instances on one Redis', () => {
  const prefix = freshPrefix('instances');
  let a: Instance;
  let b: Instance;
  let c: Instance;

  beforeAll(async () => {
    const env = { REDIS_URL, PREFIX: prefix, LEASE_MS: String(SHARED_LEASE_MS) };
    [a, b, c] = await Promise.all([Instance.start('a', env), Instance.start('b', env), Instance.start('c', env)]);
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((instance) => instance?.close()));
    await dropPrefix(prefix);
  });

  it('a client on B sees every update of a job run on A, in order, with the ids A gave them', async () => {
    const onB = await stream(b.url);
    const onA = await stream(a.url);
    await Promise.all([onA.ready(), onB.ready()]);
    const job = await a.run('sync-push', 20, 5);
    await onB.until(
      () => onB.jobs().some((seen) => seen.id === job.id && seen.state === 'success'),
      'success on B',
      10_000,
    );
    await onA.until(
      () => onA.jobs().some((seen) => seen.id === job.id && seen.state === 'success'),
      'success on A',
      10_000,
    );
    // queued, running, 20 progress steps, success: every version, in order, on both.
    const expected = Array.from({ length: 23 }, (_, i) => i + 1);
    expect(versionsOf(onB, job.id)).toEqual(expected);
    const idsOn = (client: SseClient) =>
      client
        .ofType('job-update')
        .filter((event) => JSON.parse(event.data).id === job.id)
        .map((event) => event.id);
    expect(idsOn(onB)).toEqual(idsOn(onA));
  });

  it('a client resumes on C with an id from A and gets exactly the events it missed', async () => {
    const onA = await stream(a.url);
    await onA.ready();
    const job = await a.run('sync-pull', 30, 10);
    // Leave A part-way through the job, holding the id of the last event received.
    await onA.until(() => versionsOf(onA, job.id).length >= 8, 'part of the job on A', 10_000);
    onA.close();
    const lastSeen = onA.events.filter((event) => event.id !== undefined).at(-1)?.id as string;
    const seenVersions = versionsOf(onA, job.id);

    // A second client stayed on A the whole time: the truth to compare with.
    const watcher = await stream(a.url, { 'last-event-id': lastSeen });
    const resumed = await stream(c.url, { 'last-event-id': lastSeen });
    for (const client of [watcher, resumed]) {
      await client.until(
        () => client.jobs().some((seen) => seen.id === job.id && seen.state === 'success'),
        'success',
        10_000,
      );
    }
    expect(resumed.ofType('resync')).toEqual([]);
    const tail = (client: SseClient) =>
      client.ofType('job-update').map((event) => [event.id, JSON.parse(event.data).version]);
    expect(tail(resumed)).toEqual(tail(watcher));
    // Exactly the missed ones: nothing seen before, nothing skipped.
    const all = [...seenVersions, ...versionsOf(resumed, job.id)];
    expect(all).toEqual(Array.from({ length: 33 }, (_, i) => i + 1));
  });

  it('two instances racing updates on one job never take it backwards, and lose none', async () => {
    const job = await a.hold('race');
    await waitFor(async () => (await a.get(job.id))?.progress === 0.5, 'instance a to see the progress', 5000);
    const watcher = await stream(a.url);
    await watcher.ready();
    const start = (await a.get(job.id))?.version as number;
    // Each instance writes one update after another; the two race each other on every version.
    const updates = async (instance: Instance, n: number) => {
      for (let i = 0; i < n; i++) {
        await instance.ask({ type: 'update', id: job.id, patch: { message: `${instance.name} ${i}` } });
      }
    };
    await Promise.all([updates(b, 40), updates(c, 40)]);
    await a.ask({ type: 'release', id: job.id });
    await watcher.until(
      () => watcher.jobs().some((seen) => seen.id === job.id && seen.state === 'success'),
      'success',
      10_000,
    );
    const versions = versionsOf(watcher, job.id);
    for (let i = 1; i < versions.length; i++) expect(versions[i]).toBeGreaterThan(versions[i - 1] as number);
    // 80 updates, then success: every one applied on top of the one before.
    expect(versions.at(-1)).toBe(start + 81);
    const messages = new Set(
      watcher
        .jobs()
        .filter((seen) => seen.id === job.id)
        .map((seen) => seen.message),
    );
    for (let i = 0; i < 40; i++) {
      expect(messages.has(`b ${i}`) || messages.has(`c ${i}`)).toBe(true);
    }
  });

  it("a definition's concurrency holds across instances: one at a time, first come first served", async () => {
    const watcher = await stream(a.url);
    await watcher.ready();
    const started: Array<{ id: string }> = [];
    for (let n = 0; n < 9; n++) started.push(await [a, b, c][n % 3]!.ask<{ id: string }>({ type: 'limited', n }));
    await watcher.until(
      () => started.every((job) => watcher.jobs().some((seen) => seen.id === job.id && seen.state === 'success')),
      'all nine to finish',
      15_000,
    );
    // Replay the stream's order of events: never two running at once, and they ran in the order queued.
    const running = new Set<string>();
    const order: string[] = [];
    let most = 0;
    for (const job of watcher.jobs().filter((seen) => started.some((mine) => mine.id === seen.id))) {
      if (job.state === 'running') {
        if (!running.has(job.id)) order.push(job.id);
        running.add(job.id);
      } else running.delete(job.id);
      most = Math.max(most, running.size);
    }
    expect(most).toBe(1);
    expect(order).toEqual(started.map((job) => job.id));
  });

  it('an idempotency key holds across instances', async () => {
    const held = await a.hold('keyed', 'only-one');
    const again = await b.hold('keyed', 'only-one');
    const third = await c.hold('keyed', 'only-one');
    expect(again.id).toBe(held.id);
    expect(third.id).toBe(held.id);
    await a.ask({ type: 'release', id: held.id });
  });

  it('SIGKILL of the instance running a job: another ends it by lease within lease + 2 s', async () => {
    const env = { REDIS_URL, PREFIX: prefix, LEASE_MS: String(LEASE_MS) };
    const doomed = await Instance.start('doomed', env);
    const job = await doomed.hold('doomed-job');
    await waitFor(async () => (await b.get(job.id))?.state === 'running', 'instance b to see the job running', 5000);
    const onB = await stream(b.url);
    await onB.ready();
    const killedAt = Date.now();
    await doomed.kill();
    await onB.until(
      () => onB.jobs().some((seen) => seen.id === job.id && seen.state === 'error'),
      'the lease to end the job',
      LEASE_MS + 4000,
    );
    const elapsed = Date.now() - killedAt;
    const ended = onB.jobs().find((seen) => seen.id === job.id && seen.state === 'error');
    expect(ended?.message).toBe(LEASE_MESSAGE);
    expect(elapsed).toBeLessThanOrEqual(LEASE_MS + 2000);
    // Ended exactly once, whichever instance got there first.
    expect(onB.jobs().filter((seen) => seen.id === job.id && seen.state === 'error')).toHaveLength(1);
  });
});

describe('a Redis that restarts without its data', () => {
  let redis: PrivateRedis;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    const env = { REDIS_URL: redis.url, PREFIX: 'restart', LEASE_MS: String(LEASE_MS) };
    [a, b] = await Promise.all([Instance.start('a', env), Instance.start('b', env)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('instances reconnect within 5 s, running jobs are written back, clients resync and follow them to the end', async () => {
    const done = await a.run('before', 1, 1);
    const running = await a.hold('across-restart');
    await waitFor(
      async () => (await b.get(running.id))?.progress === 0.5,
      'instance b to see the progress of the running job',
      5000,
    );
    await waitFor(async () => (await b.get(done.id))?.state === 'success', 'instance b to see the finished job', 5000);
    const onB = await stream(b.url);
    await onB.ready();
    const lastSeen = onB.events.filter((event) => event.id !== undefined).at(-1)?.id as string;

    await redis.restart();
    const restartedAt = Date.now();
    // B ends its streams on the reset: a client reconnects with an id of the old epoch and resyncs.
    await onB.closedByServer(5000);
    const again = await stream(b.url, { 'last-event-id': lastSeen });
    await again.ready();
    expect(Date.now() - restartedAt).toBeLessThan(5000);
    expect(again.ofType('resync')).toHaveLength(1);
    const snapshot = new Map(again.jobs().map((job) => [job.id, job]));
    expect(snapshot.get(running.id)?.state).toBe('running');
    expect(snapshot.has(done.id)).toBe(true);

    // The job that ran across the restart still finishes, and the client on B sees it.
    await a.ask({ type: 'release', id: running.id });
    await again.until(
      () => again.jobs().some((job) => job.id === running.id && job.state === 'success'),
      'the job to finish after the restart',
      5000,
    );
    // New work after the restart flows between instances as before.
    const after = await b.run('after', 2, 1);
    await waitFor(
      async () => (await a.get(after.id))?.state === 'success',
      'instance a to see the new job finish',
      5000,
    );
  });
});
