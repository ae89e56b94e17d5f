import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_MESSAGE, SHUTDOWN_MESSAGE } from '../../src/core/registry.js';
import type { Job } from '../../src/index.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor } from '../support/wait.js';
import { dropPrefix, freshPrefix, REDIS_URL } from './helpers.js';
import { Instance, PrivateRedis } from './instances.js';

/**
 * The operator's actions and the start queue across instances, each in its own process, on one
 * Redis: two people acting on one job through two instances, an instance that dies or a Redis that
 * drops its connections in the middle.
 */

const LEASE_MS = 1000;
/**
 * The lease of the instances the tests share: long, so that a process the machine starves of CPU for a
 * moment is not taken for dead. The test of a lease running out starts an instance with LEASE_MS.
 */
const SHARED_LEASE_MS = 10_000;
type Answer = { job?: Job; error?: { code?: string; field?: string; message?: string } };
type Ran = { work: number; approve: number; reject: number; aborted: boolean };

const act = (instance: Instance, action: string, id: string) => instance.ask<Answer>({ type: 'act', action, id });
const ran = (instance: Instance, id: string) => instance.ask<Ran>({ type: 'ran', id });
/** How often each hook ran for a job, added up over `instances`. */
async function ranOver(instances: Instance[], id: string): Promise<Ran> {
  const all = await Promise.all(instances.map((instance) => ran(instance, id)));
  return {
    work: all.reduce((sum, one) => sum + one.work, 0),
    approve: all.reduce((sum, one) => sum + one.approve, 0),
    reject: all.reduce((sum, one) => sum + one.reject, 0),
    aborted: all.some((one) => one.aborted),
  };
}
const stateOn = async (instance: Instance, id: string) => (await instance.get(id))?.state;

const clients: SseClient[] = [];
async function stream(url: string): Promise<SseClient> {
  const client = await SseClient.open(`${url}/events`);
  clients.push(client);
  await client.ready();
  return client;
}
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

/** Every version of a job a stream carried, in order: 1, 2, 3… with none missing, none twice. */
function expectEveryVersion(client: SseClient, job: Job, where: string) {
  const versions = client
    .jobs()
    .filter((seen) => seen.id === job.id)
    .map((seen) => seen.version);
  expect(versions, `the versions of ${job.id} on ${where}`).toEqual(
    Array.from({ length: job.version }, (_, i) => i + 1),
  );
}

describe('operator actions on one job through two instances', () => {
  const prefix = freshPrefix('actions');
  const env = { REDIS_URL, PREFIX: prefix, LEASE_MS: String(SHARED_LEASE_MS) };
  let a: Instance;
  let b: Instance;
  let c: Instance;

  beforeAll(async () => {
    [a, b, c] = await Promise.all([Instance.start('a', env), Instance.start('b', env), Instance.start('c', env)]);
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((instance) => instance?.close()));
    await dropPrefix(prefix);
  });

  /** A job of `needs-approval`, queued on C, pending once A and B see it so. */
  async function pendingJob(): Promise<Job> {
    const job = await c.ask<Job>({ type: 'needs-approval' });
    for (const instance of [a, b]) {
      await waitFor(async () => (await stateOn(instance, job.id)) === 'pending', `${instance.name} to see it pending`);
    }
    return (await a.get(job.id)) as Job;
  }

  it('approve on A and reject on B at once: one wins, the other gets a conflict on state; each hook runs at most once', async () => {
    const onA = await stream(a.url);
    const onB = await stream(b.url);
    const outcomes = { approved: 0, rejected: 0 };
    const jobs: Job[] = [];
    for (let round = 0; round < 12; round++) {
      const job = await pendingJob();
      const [approved, rejected] = await Promise.all([act(a, 'approve', job.id), act(b, 'reject', job.id)]);
      const winners = [approved, rejected].filter((answer) => answer.job);
      expect(winners, JSON.stringify({ approved, rejected })).toHaveLength(1);
      const loser = approved.job ? rejected : approved;
      expect(loser.error?.code).toBe('invalid_transition');
      expect(loser.error?.field).toBe('state');
      const final = approved.job ? 'running' : 'cancelled';
      for (const instance of [a, b, c]) {
        await waitFor(async () => (await stateOn(instance, job.id)) === final, `${instance.name} to see it ${final}`);
      }
      const hooks = await ranOver([a, b, c], job.id);
      expect(hooks.approve).toBe(approved.job ? 1 : 0);
      expect(hooks.reject).toBe(rejected.job ? 1 : 0);
      if (approved.job) outcomes.approved++;
      else outcomes.rejected++;
      jobs.push((await a.get(job.id)) as Job);
      if (approved.job) await a.ask({ type: 'release', id: job.id });
    }
    // Both streams carried every change of every job, the loser's instance included.
    for (const job of jobs) {
      const final = (await c.get(job.id)) as Job;
      await onA.until(() => onA.held.get(job.id)?.version === final.version, `A's stream to reach ${job.id}'s end`);
      await onB.until(() => onB.held.get(job.id)?.version === final.version, `B's stream to reach ${job.id}'s end`);
      expectEveryVersion(onA, final, 'A');
      expectEveryVersion(onB, final, 'B');
    }
  });

  it('approve on A and on B at once: one wins, onApprove runs once, and closing the loser leaves the job alone', async () => {
    const d = await Instance.start('d', env);
    const e = await Instance.start('e', env);
    try {
      const won = new Map<string, Instance>();
      for (let round = 0; round < 10; round++) {
        const job = await c.ask<Job>({ type: 'needs-approval' });
        for (const instance of [d, e]) {
          await waitFor(async () => (await stateOn(instance, job.id)) === 'pending', `${instance.name} pending`);
        }
        const [onD, onE] = await Promise.all([act(d, 'approve', job.id), act(e, 'approve', job.id)]);
        expect(
          [onD, onE].filter((answer) => answer.job),
          JSON.stringify({ onD, onE }),
        ).toHaveLength(1);
        const loser = onD.job ? onE : onD;
        expect(loser.error?.code).toBe('invalid_transition');
        expect(loser.error?.field).toBe('state');
        won.set(job.id, onD.job ? d : e);
        await waitFor(async () => (await stateOn(c, job.id)) === 'running', 'the approved work to run');
        expect((await ranOver([c, d, e], job.id)).approve).toBe(1);
      }
      // A rolling deploy stops E: it ends the jobs E approved (its own), never those D runs.
      await e.close();
      for (const [id, winner] of won) {
        if (winner === d) {
          expect(await stateOn(c, id), `job ${id}, approved and run on d`).toBe('running');
        } else {
          await waitFor(async () => (await c.get(id))?.message === SHUTDOWN_MESSAGE, `job ${id} to end with e`);
        }
      }
    } finally {
      await Promise.all([d.close(), e.close()]);
    }
  });

  it('cancel on A of a job whose work runs (and writes) on B aborts the work on B', async () => {
    const onB = await stream(b.url);
    for (let round = 0; round < 10; round++) {
      const job = await b.ask<Job>({ type: 'spin' });
      await waitFor(async () => ((await a.get(job.id))?.version ?? 0) > 5, 'A to see the work write progress');
      const cancelled = await act(a, 'cancel', job.id);
      expect(cancelled.job?.state).toBe('cancelled');
      await waitFor(async () => (await ran(b, job.id)).aborted, `the work of ${job.id} on B to see its signal abort`);
      const final = cancelled.job as Job;
      await onB.until(() => onB.held.get(job.id)?.state === 'cancelled', `B's stream to see ${job.id} cancelled`);
      expectEveryVersion(onB, final, 'B');
    }
  });

  it('retry on A and on B at once answers one retry job, and its work runs once', async () => {
    for (let round = 0; round < 5; round++) {
      const failed = await c.ask<Job>({ type: 'flaky' });
      for (const instance of [a, b]) {
        await waitFor(async () => (await stateOn(instance, failed.id)) === 'error', `${instance.name} to see it fail`);
      }
      const [onA, onB] = await Promise.all([act(a, 'retry', failed.id), act(b, 'retry', failed.id)]);
      expect(onA.job?.retryOf).toBe(failed.id);
      expect(onB.job?.id, 'the retry B answered').toBe(onA.job?.id);
      const retry = onA.job as Job;
      await waitFor(async () => (await ranOver([a, b, c], retry.id)).work === 1, 'the retry to run');
      // A third retry while it runs, on C this time, answers it too.
      expect((await act(c, 'retry', failed.id)).job?.id).toBe(retry.id);
      for (const instance of [a, b, c]) await instance.ask({ type: 'release', id: retry.id });
      await waitFor(async () => (await stateOn(c, retry.id)) === 'success', 'the retry to end');
    }
  });

  it('the instance running an approved job dies: another ends it by lease', async () => {
    const doomed = await Instance.start('doomed', { ...env, LEASE_MS: String(LEASE_MS) });
    const job = await c.ask<Job>({ type: 'needs-approval' });
    await waitFor(async () => (await stateOn(doomed, job.id)) === 'pending', 'doomed to see it pending');
    expect((await act(doomed, 'approve', job.id)).job?.state).toBe('queued');
    await waitFor(async () => (await stateOn(a, job.id)) === 'running', 'the approved work to run on doomed');
    await doomed.kill();
    const killedAt = Date.now();
    await waitFor(async () => (await stateOn(a, job.id)) === 'error', 'the lease to end it', LEASE_MS + 4000);
    expect(Date.now() - killedAt).toBeLessThanOrEqual(LEASE_MS + 2000);
    expect((await a.get(job.id))?.message).toBe(LEASE_MESSAGE);
  });

  it('hostile text and data round-trip through the scripts unchanged, to every instance and stream', async () => {
    const onC = await stream(c.url);
    const job = await a.hold('hostile');
    await waitFor(async () => (await b.get(job.id))?.progress === 0.5, 'B to see the job');
    const nasty = '\u0000"\\\'`]]--[[%s%d\r\n\t\u2028\u2029\ud83d\ude00é中文\uffff\u0001</script>';
    const message = nasty.repeat(Math.ceil(4000 / nasty.length)).slice(0, 4000);
    // `data` as JSON exactly at the 64 KiB limit, counted in UTF-8 bytes.
    const data: Record<string, string> = { nasty, pad: '' };
    data.pad = 'x'.repeat(65536 - Buffer.byteLength(JSON.stringify(data)));
    expect(Buffer.byteLength(JSON.stringify(data))).toBe(65536);
    const updated = await b.ask<Job>({
      type: 'update',
      id: job.id,
      patch: { message, data, phase: nasty.slice(0, 40) },
    });
    expect(updated.message).toBe(message);
    for (const instance of [a, c]) {
      await waitFor(async () => (await instance.get(job.id))?.version === updated.version, `${instance.name}`);
      expect(await instance.get(job.id)).toEqual(updated);
    }
    await onC.until(() => onC.held.get(job.id)?.version === updated.version, 'the stream on C to carry it');
    expect(onC.held.get(job.id)).toEqual(updated);
    // One byte over the limit is refused, naming the field, and nothing is written.
    const over = await b
      .ask({ type: 'update', id: job.id, patch: { data: { ...data, pad: `${data.pad}x` } } })
      .catch((error: Error) => error.message);
    expect(over).toMatch(/data/);
    await a.ask({ type: 'release', id: job.id });
  });
});

describe('a Redis that drops every connection while a definition starts its jobs', () => {
  let redis: PrivateRedis;
  let instances: Instance[];
  const lockFile = join(tmpdir(), `${freshPrefix('one-at-a-time')}.lock`);

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    const env = { REDIS_URL: redis.url, PREFIX: 'drops', LEASE_MS: '3000', LOCK_FILE: lockFile };
    instances = await Promise.all(['a', 'b', 'c'].map((name) => Instance.start(name, env)));
  });
  afterAll(async () => {
    await Promise.all((instances ?? []).map((instance) => instance.close()));
    console.log(instances.map((i) => i.stderr));
    await redis?.stop();
  });

  it('concurrency 1 holds, every job runs once and ends, none is left busy', async () => {
    const killer = new Redis(redis.url);
    let killing = true;
    let kills = 0;
    const killLoop = (async () => {
      while (killing) {
        // Every connection but the killer's own: the instances' writers and readers alike.
        kills += Number(await killer.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes').catch(() => 0));
        await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 30));
      }
    })();
    const started: Job[] = [];
    try {
      for (let n = 0; n < 30; n++) {
        const instance = instances[n % 3] as Instance;
        started.push(await instance.ask<Job>({ type: 'limited', n }));
      }
      await waitFor(
        async () => {
          const states = await Promise.all(started.map((job) => stateOn(instances[0] as Instance, job.id)));
          return states.every((state) => state === 'success' || state === 'error');
        },
        'all thirty to end',
        30_000,
      );
    } finally {
      killing = false;
      await killLoop;
      killer.disconnect();
    }
    expect(kills).toBeGreaterThan(0);
    const finals: Job[] = [];
    for (const job of started) {
      const final = (await (instances[0] as Instance).get(job.id)) as Job;
      expect(final?.state, `${job.id}: ${final?.message}`).toBe('success');
      expect((await ranOver(instances, job.id)).work, `runs of ${job.id}`).toBe(1);
      finals.push(final);
    }
    // Every instance followed every change through the drops: its view agrees with the store's.
    for (const instance of instances) {
      await waitFor(
        async () => {
          const states = await Promise.all(started.map((job) => stateOn(instance, job.id)));
          return states.every((state) => state === 'success');
        },
        `${instance.name} to see all thirty succeed`,
        5000,
      );
    }
    // Never two at once: no run found another's lock file.
    for (const instance of instances) expect(await instance.ask({ type: 'overlaps' }), instance.name).toEqual([]);
  }, 120_000);
});

describe('a Redis that restarts without its data during an approve', () => {
  let redis: PrivateRedis;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    const env = { REDIS_URL: redis.url, PREFIX: 'approve-restart', LEASE_MS: String(LEASE_MS) };
    [a, b] = await Promise.all([Instance.start('a', env), Instance.start('b', env)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await redis?.stop();
  });

  it('the approval either holds everywhere (its work runs once) or is refused; the job never hangs', async () => {
    for (let round = 0; round < 4; round++) {
      const job = await b.ask<Job>({ type: 'needs-approval' });
      await waitFor(async () => (await stateOn(a, job.id)) === 'pending', 'A to see it pending');
      // Even rounds: the restart and the approval race. Odd rounds: the approval is sent while Redis
      // is down, and waits for the new, empty one.
      let answer: Answer;
      if (round % 2 === 0) [answer] = await Promise.all([act(a, 'approve', job.id), redis.restart()]);
      else {
        await redis.stop();
        const approving = act(a, 'approve', job.id);
        await redis.restart();
        answer = await approving;
      }
      if (answer.job) {
        for (const instance of [a, b]) {
          await waitFor(
            async () => (await stateOn(instance, job.id)) === 'running',
            `${instance.name} to see the approved work run (round ${round})`,
            8000,
          );
        }
        expect((await ranOver([a, b], job.id)).approve).toBe(1);
        await a.ask({ type: 'release', id: job.id });
        await waitFor(async () => (await stateOn(b, job.id)) === 'success', 'the approved work to end', 8000);
      } else {
        // Refused: the job is still there to approve, on both instances, once Redis is back.
        expect(answer.error?.code, JSON.stringify(answer)).toBe('unavailable');
        for (const instance of [a, b]) {
          await waitFor(async () => (await stateOn(instance, job.id)) === 'pending', `${instance.name} pending`, 8000);
        }
      }
    }
  });
});

/** A TCP proxy to Redis that can stop passing Redis's answers on the connections open so far. */
async function answerSwallowingProxy(target: number): Promise<{ url: string; swallow(): void; close(): void }> {
  const sockets: Array<{ swallowing: boolean; client: net.Socket; upstream: net.Socket }> = [];
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    const pair = { swallowing: false, client, upstream };
    sockets.push(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => {
      if (!pair.swallowing) client.write(chunk);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    swallow: () => {
      for (const pair of sockets) pair.swallowing = true;
    },
    close: () => {
      server.close();
      for (const pair of sockets) pair.client.destroy();
    },
  };
}

describe('a read whose answer never comes on a connection that stays up', () => {
  it('the instance opens a new read connection and sees changes again', async () => {
    const prefix = freshPrefix('lost-read');
    const proxy = await answerSwallowingProxy(Number(new URL(REDIS_URL).port || 6379));
    const a = await Instance.start('a', { REDIS_URL: proxy.url, PREFIX: prefix });
    const b = await Instance.start('b', { REDIS_URL, PREFIX: prefix });
    try {
      // A's connections stay open, but nothing Redis answers on them reaches A any more.
      proxy.swallow();
      const job = await b.run('unseen', 1, 1);
      await waitFor(async () => (await stateOn(b, job.id)) === 'success', 'the job to end on B');
      await waitFor(async () => (await stateOn(a, job.id)) === 'success', 'A to see the job end', 10_000);
    } finally {
      await Promise.all([a.kill(), b.close()]);
      proxy.close();
      await dropPrefix(prefix);
    }
  });
});
