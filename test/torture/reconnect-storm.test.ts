import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRegistry, type Job, type JobRegistry } from '../../src/index.js';
import { SseClient } from '../support/sse-client.js';
import { times } from '../support/times.js';
import { waitFor } from '../support/wait.js';
import { connectMany, PATIENCE_MS, startServer, type TestServer } from './helpers.js';

const CLIENTS = 500;
const JOBS = 5;

describe('a reconnect storm', () => {
  let registry: JobRegistry;
  let server: TestServer;

  beforeAll(async () => {
    registry = await createJobRegistry({ onError: () => {} });
    server = await startServer(registry, { heartbeatMs: 60_000 });
  });

  afterAll(async () => {
    await server.close();
    await registry.close();
  });

  it('500 clients resume at once with Last-Event-ID: all converge, none sees a job go backwards', async () => {
    const ids = await times(
      JOBS,
      async (i) => (await registry.enqueue({ category: 'storm', target: { n: `${i}` } })).id,
    );
    for (const id of ids) await registry.update(id, { state: 'running' });

    const first = await connectMany(CLIENTS, async () => {
      const client = await SseClient.open(`${server.url}/events`);
      await client.ready(PATIENCE_MS);
      return client;
    });

    // Updates keep flowing through the whole storm, as a busy server's would.
    let step = 0;
    const ticker = setInterval(() => {
      const id = ids[step++ % JOBS] as string;
      void registry.update(id, { progress: (step % 1000) / 1000, message: `step ${step}` });
    }, 25);
    /** Waits until the ticker has made `n` more changes. */
    const changes = (n: number, what: string) => {
      const target = step + n;
      return waitFor(() => step >= target, `${n} changes ${what}`, PATIENCE_MS);
    };
    await changes(4, 'before the drop');

    // Every connection drops at the same moment (a proxy restart, a network blip).
    for (const client of first) client.close();
    await waitFor(() => server.endpoint.openStreams === 0, 'every stream to close', PATIENCE_MS);
    // Changes the clients miss while they are away: what their resume must replay.
    await changes(2, 'while every client is away');

    // Most resume from where they were; some send a malformed id or one from another epoch.
    const kinds = first.map((_, i) => (i % 10 === 0 ? 'malformed' : i % 10 === 1 ? 'foreign' : 'resume'));
    const lastIds = first.map((client, i) =>
      kinds[i] === 'malformed' ? 'not-an-id\u00ff' : kinds[i] === 'foreign' ? 'zzzzzzzzzz-3' : client.lastEventId,
    );
    const second = await Promise.all(
      first.map(async (_, i) => {
        // A header cannot carry every byte: the malformed ones use the `lastEventId` query parameter.
        const client =
          kinds[i] === 'malformed'
            ? await SseClient.open(`${server.url}/events?lastEventId=${encodeURIComponent(lastIds[i] as string)}`)
            : await SseClient.open(`${server.url}/events`, { 'last-event-id': lastIds[i] as string });
        await client.ready(PATIENCE_MS);
        return client;
      }),
    );
    await changes(4, 'after the reconnect');
    clearInterval(ticker);
    for (const id of ids) await registry.update(id, { state: 'success', message: 'done' });

    const truth = new Map(ids.map((id) => [id, registry.get(id) as Job]));
    await waitFor(
      () => second.every((client) => ids.every((id) => client.held.get(id)?.version === truth.get(id)?.version)),
      'every client to converge on the final state',
      PATIENCE_MS,
    );

    // Collected, then asserted once: 500 clients × every event is too many single expectations.
    const problems: string[] = [];
    second.forEach((client, i) => {
      const kind = kinds[i];
      const resynced = client.events.some((event) => event.event === 'resync');
      if (resynced !== (kind !== 'resume')) problems.push(`client ${i} (${kind}): resync ${resynced}`);
      const held = new Map<string, number>();
      for (const [id, job] of (first[i] as SseClient).held) held.set(id, job.version);
      let lastSequence = 0;
      for (const event of client.events) {
        if (event.id !== undefined) {
          const sequence = Number(event.id.split('-')[1]);
          if (sequence < lastSequence)
            problems.push(`client ${i}: event id ${event.id} after sequence ${lastSequence}`);
          lastSequence = sequence;
        }
        if (event.event !== 'job-update') continue;
        const job = JSON.parse(event.data) as Job;
        const before = held.get(job.id) ?? 0;
        // A replay carries only what was missed: strictly newer. A resync snapshot may repeat what
        // the client holds, but never anything older.
        if (kind === 'resume' ? job.version <= before : job.version < before) {
          problems.push(`client ${i} (${kind}): job ${job.id} version ${job.version} after ${before}`);
        }
        held.set(job.id, job.version);
      }
      for (const id of ids) {
        if (JSON.stringify(client.held.get(id)) !== JSON.stringify(truth.get(id))) {
          problems.push(`client ${i}: job ${id} differs from the registry`);
        }
      }
    });
    expect(problems).toEqual([]);
    expect(step).toBeGreaterThan(10);
    for (const client of second) client.close();
  });

  it('a malformed Last-Event-ID in the query parameter gets resync and the snapshot', async () => {
    const job = await registry.enqueue({ category: 'storm' });
    const client = await SseClient.open(`${server.url}/events?lastEventId=${encodeURIComponent('1-2-3\u0000x')}`);
    await client.ready(PATIENCE_MS);
    expect(client.events.map((event) => event.event).slice(0, 1)).toEqual(['resync']);
    expect(client.held.get(job.id)?.version).toBe(job.version);
    client.close();
  });
});
