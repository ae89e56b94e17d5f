import { describe, expect, it } from 'vitest';
import { jobWhen, testRegistry } from '../../test/support/registries.js';
import { isTerminal, type Job } from '../protocol/job.js';
import { memoryStore } from '../stores/memory.js';
import { createJobsEndpoint } from './http/endpoint.js';
import type { RegistryInstrumentation, StoreWrite } from './instrumentation.js';
import { createJobRegistry, type JobRegistry } from './registry.js';
import type { JobStream } from './stream.js';

/** A hand-written instrumentation that records what core tells it. */
function recorder() {
  const calls = {
    attach: [] as JobRegistry[],
    owned: [] as Job[],
    attempts: [] as Array<[string, number]>,
    writes: [] as StoreWrite[],
  };
  const hooks: RegistryInstrumentation = {
    attach: (registry) => void calls.attach.push(registry),
    owned: (job) => void calls.owned.push(job),
    attempt(job, work) {
      calls.attempts.push([job.category, job.attempt]);
      return work();
    },
    storeWrite: (write) => void calls.writes.push(write),
  };
  return { calls, hooks };
}

const ended = (jobs: JobRegistry, id: string) => jobWhen(jobs, id, (job) => isTerminal(job.state));

describe('registry instrumentation hooks', () => {
  it('are told of the registry, each job this instance takes on, each attempt and each store write', async () => {
    const { calls, hooks } = recorder();
    const jobs = await testRegistry({ instrumentation: hooks });
    expect(calls.attach).toEqual([jobs]);

    const flaky = jobs.define(
      'flaky',
      async (ctx) => {
        if (ctx.attempt === 1) throw new Error('once');
        if (!ctx.approval) ctx.awaitApproval('check');
        return {};
      },
      { retries: 1, backoff: { delayMs: 0 } },
    );
    const first = await flaky.run({}, { key: 'k' });
    // An idempotent hit takes nothing on; a pending job is nobody's until approved.
    expect((await flaky.run({}, { key: 'k' })).id).toBe(first.id);
    await jobs.enqueue({ category: 'manual', state: 'pending' });
    await jobWhen(jobs, first.id, (job) => job.state === 'pending');
    await jobs.approve(first.id);
    await ended(jobs, first.id);
    const again = await jobs.retry(first.id);
    await jobWhen(jobs, again.id, (job) => job.state === 'pending');
    const adHoc = await jobs.run({ category: 'ad-hoc' }, async () => {});
    await ended(jobs, adHoc.id);
    const manual = await jobs.enqueue({ category: 'manual', state: 'running' });

    expect(calls.owned.map((job) => [job.id, job.state])).toEqual([
      [first.id, 'queued'],
      [first.id, 'queued'], // approved
      [again.id, 'queued'],
      [adHoc.id, 'queued'],
      [manual.id, 'running'],
    ]);
    expect(calls.attempts).toEqual([
      ['flaky', 1],
      ['flaky', 2],
      ['flaky', 3], // the approved run: its own attempt
      ['flaky', 1],
      ['flaky', 2],
      ['ad-hoc', 1],
    ]);
    const operations = new Set(calls.writes.map((write) => write.operation));
    expect(operations).toEqual(new Set(['create', 'write']));
    expect(calls.writes.every((write) => write.store === 'memory' && write.durationMs >= 0 && !write.error)).toBe(true);
  });

  it('report what they throw to onError and change nothing else', async () => {
    const errors: string[] = [];
    const jobs = await testRegistry({
      onError: (error) => errors.push(error.message),
      instrumentation: {
        owned: () => {
          throw new Error('owned broke');
        },
        storeWrite: () => {
          throw new Error('storeWrite broke');
        },
      },
    });
    const job = await jobs.run({ category: 'c' }, async (ctx) => {
      await ctx.log('line');
      return { ok: true };
    });
    expect((await ended(jobs, job.id)).state).toBe('success');
    expect(jobs.logs(job.id).map((line) => line.text)).toEqual(['line']);
    expect(errors).toContain('instrumentation.owned threw: owned broke');
    expect(errors).toContain('instrumentation.storeWrite threw: storeWrite broke');
  });

  it('an attach that throws refuses the registry and releases its store', async () => {
    const store = memoryStore();
    const refusal = new Error('not this one');
    await expect(
      createJobRegistry({
        store,
        instrumentation: {
          attach: () => {
            throw refusal;
          },
        },
      }),
    ).rejects.toBe(refusal);
    // The store is free again (a memory store refuses a second open while one is open).
    const jobs = await testRegistry({ store });
    expect(jobs.closed).toBe(false);
  });

  it('are checked, each error naming the hook', async () => {
    await expect(createJobRegistry({ instrumentation: 5 as never })).rejects.toMatchObject({
      field: 'instrumentation',
    });
    await expect(createJobRegistry({ instrumentation: { owned: 'yes' } as never })).rejects.toMatchObject({
      code: 'invalid_options',
      field: 'instrumentation.owned',
    });
    const jobs = await testRegistry();
    expect(() =>
      createJobsEndpoint(jobs, { allowAnonymous: true, instrumentation: { streamClosed: true } as never }),
    ).toThrow(expect.objectContaining({ field: 'instrumentation.streamClosed' }));
  });
});

describe('endpoint instrumentation hooks', () => {
  it('see streams open and close with their reason, and resyncs; what they throw goes to onError', async () => {
    const jobs = await testRegistry();
    const seen: string[] = [];
    const errors: string[] = [];
    const endpoint = createJobsEndpoint(jobs, {
      allowAnonymous: true,
      onError: (error) => errors.push(error.message),
      instrumentation: {
        streamOpened: () => void seen.push('opened'),
        streamClosed: (reason) => {
          seen.push(`closed ${reason}`);
          throw new Error('hook broke');
        },
        streamResynced: (reason) => void seen.push(`resync ${reason}`),
      },
    });
    const open = async (lastEventId?: string) => {
      const response = await endpoint.handle(
        {
          method: 'GET',
          path: '/events',
          query: new URLSearchParams(),
          header: (name) => (name === 'last-event-id' ? lastEventId : undefined),
        },
        null,
      );
      const stream = response.stream as JobStream;
      stream.start({ write: () => true, end: () => {} });
      return stream;
    };
    const plain = await open();
    const resumed = await open('x-1');
    await new Promise((resolve) => setTimeout(resolve, 10));
    plain.close('client-closed');
    endpoint.closeStreams();
    expect(resumed.closed).toBe(true);
    expect(seen).toEqual([
      'opened',
      'opened',
      'resync event id from another epoch',
      'closed client-closed',
      'closed server-closed',
    ]);
    expect(errors).toEqual([
      'instrumentation.streamClosed threw: hook broke',
      'instrumentation.streamClosed threw: hook broke',
    ]);
  });
});
