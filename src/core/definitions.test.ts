import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest';
import { refusedField } from '../../test/support/refusal.js';
import { JobsError } from '../protocol/errors.js';
import type { Job } from '../protocol/job.js';
import { memoryStore } from '../stores/memory.js';
import { createJobRegistry, type JobEvent, type JobRegistry } from './registry.js';

const open: JobRegistry[] = [];
async function registry(options: Parameters<typeof createJobRegistry>[0] = {}) {
  const jobs = await createJobRegistry({ onError: () => {}, ...options });
  open.push(jobs);
  return jobs;
}
afterEach(async () => {
  for (const jobs of open.splice(0)) await jobs.close();
});

function until(jobs: JobRegistry, id: string, done: (job: Job) => boolean, timeout = 5000): Promise<Job> {
  return vi.waitFor(
    () => {
      const job = jobs.get(id);
      if (!job || !done(job)) throw new Error(`job ${id} is ${job?.state}`);
      return job;
    },
    { timeout, interval: 2 },
  );
}

/** A gate a test opens when it wants a job's work to finish. */
function gate() {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

describe('definitions', () => {
  it('carry their input and result types into ctx, the job and its result', async () => {
    const jobs = await registry();
    const push = jobs.define<{ peer: string }, { records: number }>(
      'sync-push',
      async (ctx) => {
        expectTypeOf(ctx.input).toEqualTypeOf<{ peer: string }>();
        return { records: ctx.input.peer.length };
      },
      { target: (input) => ({ peer: input.peer }) },
    );
    const job = await push.run({ peer: 'peer-b' });
    expectTypeOf(job.data).toEqualTypeOf<Readonly<{ peer: string }>>();
    expectTypeOf(job.result).toEqualTypeOf<Readonly<{ records: number }> | null>();
    expect(job).toMatchObject({ state: 'queued', target: { peer: 'peer-b' }, data: { peer: 'peer-b' }, attempt: 0 });
    const done = await until(jobs, job.id, (j) => j.state === 'success');
    expect(done).toMatchObject({ data: { peer: 'peer-b' }, result: { records: 6 }, attempt: 1, maxAttempts: 1 });
    // The same through run(category, input).
    const again = await jobs.run('sync-push', { peer: 'peer-c' });
    expect((await until(jobs, again.id, (j) => j.state === 'success')).result).toEqual({ records: 6 });
  });

  it('keep jobs queued until a slot is free: first come first served, per category', async () => {
    const jobs = await registry();
    const gates = new Map<string, ReturnType<typeof gate>>();
    const started: string[] = [];
    jobs.define<{ n: string }>(
      'export',
      async (ctx) => {
        started.push(ctx.input.n);
        await gates.get(ctx.input.n)?.opened;
      },
      { concurrency: 2 },
    );
    for (const n of ['1', '2', '3', '4']) gates.set(n, gate());
    const runs: Job[] = [];
    for (const n of ['1', '2', '3', '4']) runs.push(await jobs.run('export', { n }));
    await vi.waitFor(() => expect(started).toEqual(['1', '2']));
    expect(runs.map((job) => jobs.get(job.id)?.state)).toEqual(['running', 'running', 'queued', 'queued']);
    gates.get('2')?.open();
    await vi.waitFor(() => expect(started).toEqual(['1', '2', '3']));
    expect(jobs.get(runs[3]?.id as string)?.state).toBe('queued');
    gates.get('1')?.open();
    gates.get('3')?.open();
    gates.get('4')?.open();
    for (const job of runs) await until(jobs, job.id, (j) => j.state === 'success');
    expect(started).toEqual(['1', '2', '3', '4']);
  });

  it('deliver the events of a job that ends and the one its slot starts in id order', async () => {
    // A local store records a write at once: the slot freed by the first job's end starts the next
    // job while that end is still being applied. Listeners (a stream) must hear the end first.
    const jobs = await registry();
    const first = gate();
    jobs.define<{ n: string }>('push', async (ctx) => (ctx.input.n === '1' ? first.opened : undefined), {
      concurrency: 1,
    });
    const seen: JobEvent[] = [];
    jobs.subscribe({}, (event) => seen.push(event));
    const one = await jobs.run('push', { n: '1' });
    const two = await jobs.run('push', { n: '2' });
    await until(jobs, one.id, (job) => job.state === 'running');
    first.open();
    await until(jobs, two.id, (job) => job.state === 'success');
    const position = (event: JobEvent) => Number(event.id.split('-').at(-1));
    expect(seen.map(position)).toEqual([...seen.map(position)].sort((a, b) => a - b));
    const order = seen.map((event) => `${event.job.id === one.id ? 1 : 2} ${event.job.state}`);
    expect(order.indexOf('1 success')).toBeLessThan(order.indexOf('2 running'));
  });

  it('keep one queue per target with concurrencyPer: target (one push per peer)', async () => {
    const jobs = await registry();
    const running = new Map<string, number>();
    let most = 0;
    jobs.define<{ peer: string; n: number }>(
      'sync-push',
      async (ctx) => {
        const now = (running.get(ctx.input.peer) ?? 0) + 1;
        running.set(ctx.input.peer, now);
        most = Math.max(most, now);
        await new Promise((resolve) => setTimeout(resolve, 5));
        running.set(ctx.input.peer, now - 1);
      },
      { concurrency: 1, concurrencyPer: 'target', target: (input) => ({ peer: input.peer }) },
    );
    const runs: Job[] = [];
    for (let n = 0; n < 6; n++) runs.push(await jobs.run('sync-push', { peer: n % 2 ? 'a' : 'b', n }));
    // Both peers run at once, never two pushes to one peer.
    await vi.waitFor(() => expect(runs.filter((job) => jobs.get(job.id)?.state === 'running')).toHaveLength(2));
    for (const job of runs) await until(jobs, job.id, (j) => j.state === 'success');
    expect(most).toBe(1);
  });

  it('retry a failing job with backoff, recording each attempt and the last error code', async () => {
    const jobs = await registry();
    let calls = 0;
    const messages: string[] = [];
    jobs.subscribe({}, (event) =>
      messages.push(`${event.job.attempt} ${event.job.phase ?? ''} ${event.job.message ?? ''}`),
    );
    jobs.define(
      'flaky',
      async () => {
        calls++;
        if (calls < 3) throw Object.assign(new Error(`refused ${calls}`), { code: 'ECONNREFUSED' });
        return { ok: true };
      },
      { retries: 2, backoff: { delayMs: 5, factor: 2 } },
    );
    const job = await jobs.run('flaky', {});
    const done = await until(jobs, job.id, (j) => j.state === 'success');
    expect(done).toMatchObject({ attempt: 3, maxAttempts: 3, error: null, result: { ok: true } });
    expect(
      messages.some((line) => /^1 retrying Attempt 1 of 3 failed: refused 1\. Retrying in 5 ms\./.test(line)),
    ).toBe(true);
    expect(
      messages.some((line) => /^2 retrying Attempt 2 of 3 failed: refused 2\. Retrying in 10 ms\./.test(line)),
    ).toBe(true);

    calls = -10;
    const failing = await jobs.run('flaky', {});
    const failed = await until(jobs, failing.id, (j) => j.state === 'error');
    expect(failed).toMatchObject({
      attempt: 3,
      message: 'refused -7',
      error: { code: 'ECONNREFUSED', message: 'refused -7', attempt: 3 },
    });
  });

  it('time out each attempt on its own, with the code timeout', async () => {
    const jobs = await registry();
    let calls = 0;
    jobs.define(
      'slow',
      async (ctx) => {
        calls++;
        if (calls === 1) await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
        return { calls };
      },
      { retries: 1, timeoutMs: 20, backoff: { delayMs: 1 } },
    );
    const job = await jobs.run('slow', {});
    const done = await until(jobs, job.id, (j) => j.state === 'success');
    expect(done.result).toEqual({ calls: 2 });
    const once = jobs.define(
      'never',
      (ctx) => new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
      {
        timeoutMs: 20,
      },
    );
    const stuck = await once.run({});
    expect((await until(jobs, stuck.id, (j) => j.state === 'error')).error).toMatchObject({
      code: 'timeout',
      attempt: 1,
    });
  });

  it('approve resumes a pending job with onApprove and ctx.approval; reject cancels it and calls onReject', async () => {
    const jobs = await registry();
    const rejected: string[] = [];
    jobs.define<{ bundle: string }, { applied: string }>(
      'sync-pull',
      (ctx) => {
        ctx.awaitApproval(`Bundle ${ctx.input.bundle} is not signed: approve it?`);
      },
      {
        onApprove: async (ctx) => ({ applied: `${ctx.input.bundle} by ${ctx.approval?.by}` }),
        onReject: (job) => {
          rejected.push(job.data.bundle);
        },
      },
    );
    const job = await jobs.run('sync-pull', { bundle: 'b1' });
    await until(jobs, job.id, (j) => j.state === 'pending');
    await expect(jobs.retry(job.id)).rejects.toMatchObject({ code: 'invalid_transition' });
    const approved = await jobs.approve(job.id, { by: 'admin' });
    expect(approved).toMatchObject({ state: 'queued', message: 'Approved by admin' });
    expect((await until(jobs, job.id, (j) => j.state === 'success')).result).toEqual({ applied: 'b1 by admin' });
    await expect(jobs.approve(job.id)).rejects.toMatchObject({ code: 'invalid_transition', jobId: job.id });

    const other = await jobs.run('sync-pull', { bundle: 'b2' });
    await until(jobs, other.id, (j) => j.state === 'pending');
    expect(await jobs.reject(other.id, { by: 'ops' })).toMatchObject({
      state: 'cancelled',
      message: 'Rejected by ops',
    });
    expect(rejected).toEqual(['b2']);
  });

  it('an approved job whose start fails on an unreachable store starts once the store is back, not never', async () => {
    const store = memoryStore();
    let failStart = false;
    const flaky: typeof store = Object.assign(Object.create(store), {
      // The write that starts a job fails once, as a shared store answers while it cannot be reached.
      write: (...args: Parameters<typeof store.write>) => {
        if (!failStart || args[0].state !== 'running') return store.write(...args);
        failStart = false;
        return Promise.reject(new JobsError('unavailable', 'store unreachable'));
      },
    });
    const errors: Error[] = [];
    const jobs = await registry({ store: flaky, onError: (error) => errors.push(error) });
    let runs = 0;
    jobs.define('deploy', (ctx) => (runs++ === 0 ? ctx.awaitApproval('Go?') : undefined), {
      onApprove: () => ({ approved: true }),
    });
    const job = await jobs.run('deploy', {});
    await until(jobs, job.id, (j) => j.state === 'pending');
    failStart = true;
    expect(await jobs.approve(job.id, { by: 'admin' })).toMatchObject({ state: 'queued' });
    const done = await until(jobs, job.id, (j) => j.state === 'success', 5000);
    expect(done.result).toEqual({ approved: true });
    expect(failStart).toBe(false);
    expect(errors.map((error) => error.message)).toContain('store unreachable');
  });

  it("approve, reject and retry keep their 'by …' message within limits.messageLength, whoever acts", async () => {
    const jobs = await registry({ limits: { messageLength: 12 } });
    let runs = 0;
    jobs.define('deploy', (ctx) => {
      if (++runs <= 2) ctx.awaitApproval('Go?');
    });
    const approved = await jobs.run('deploy', {});
    const rejected = await jobs.run('deploy', {});
    await until(jobs, approved.id, (j) => j.state === 'pending');
    await until(jobs, rejected.id, (j) => j.state === 'pending');
    const by = 'a-rather-long-principal-id';
    expect((await jobs.approve(approved.id, { by })).message).toBe('Approved by ');
    expect((await jobs.reject(rejected.id, { by })).message).toBe('Rejected by ');
    const retried = await jobs.retry(rejected.id, { by });
    expect(retried.message).toBe('Retried by a');
    await until(jobs, approved.id, (j) => j.state === 'success');
    // A stored message over the limit would make the job unreadable when a store loads it again.
    for (const job of jobs.list()) expect(job.message?.length ?? 0, job.id).toBeLessThanOrEqual(12);
  });

  it('retry runs a finished job again with the same input and key, linked to the old one', async () => {
    const jobs = await registry();
    let fail = true;
    jobs.define<{ peer: string }>(
      'sync-push',
      () => {
        if (fail) throw new Error('peer down');
      },
      { target: (input) => ({ peer: input.peer }) },
    );
    const first = await jobs.run('sync-push', { peer: 'b' }, { key: 'sync' });
    await until(jobs, first.id, (j) => j.state === 'error');
    fail = false;
    const second = await jobs.retry(first.id, { by: 'admin' });
    expect(second).toMatchObject({ retryOf: first.id, data: { peer: 'b' }, target: { peer: 'b' }, key: 'sync' });
    expect(second.id).not.toBe(first.id);
    await until(jobs, second.id, (j) => j.state === 'success');
    // An ad-hoc job has no definition to run again.
    const adhoc = await jobs.run({ category: 'adhoc' }, () => {});
    await until(jobs, adhoc.id, (j) => j.state === 'success');
    await expect(jobs.retry(adhoc.id)).rejects.toMatchObject({ code: 'invalid_transition', field: 'category' });
  });

  it('keep log lines with the job, stream them only to listeners that ask, and bound them', async () => {
    const jobs = await registry({ limits: { logLines: 3, logLineLength: 10 } });
    const withLogs: JobEvent[] = [];
    const withoutLogs: JobEvent[] = [];
    jobs.subscribe({}, (event) => withLogs.push(event), { logs: true });
    jobs.subscribe({}, (event) => withoutLogs.push(event));
    const job = await jobs.run({ category: 'logging' }, async (ctx) => {
      for (let i = 1; i <= 5; i++) await ctx.log(`line ${i} and more`, { level: i === 5 ? 'warn' : 'info' });
      expect(() => ctx.log('x', { level: 'loud' as never })).toThrow(/`level`/);
    });
    await until(jobs, job.id, (j) => j.state === 'success');
    expect(jobs.logs(job.id).map((line) => [line.seq, line.level, line.text])).toEqual([
      [3, 'info', 'line 3 and'],
      [4, 'info', 'line 4 and'],
      [5, 'warn', 'line 5 and'],
    ]);
    expect(withLogs.filter((event) => event.log)).toHaveLength(5);
    expect(withoutLogs.filter((event) => event.log)).toHaveLength(0);
    // No job snapshot is written for a log line: the version moved only with state changes.
    expect(jobs.get(job.id)?.version).toBe(3);
  });

  it('keep a pending job approvable after a restart, when the definition is registered again', async () => {
    const store = memoryStore();
    const first = await createJobRegistry({ store, onError: () => {} });
    const define = (jobs: JobRegistry) =>
      jobs.define('sync-pull', (ctx) => (ctx.approval ? { approved: true } : ctx.awaitApproval('Approve?')), {});
    define(first);
    const job = await first.run('sync-pull', {});
    await until(first, job.id, (j) => j.state === 'pending');
    await first.close();
    const second = await registry({ store });
    define(second);
    await second.approve(job.id);
    expect((await until(second, job.id, (j) => j.state === 'success')).result).toEqual({ approved: true });
  });

  it('refuse bad definitions, naming the option', async () => {
    const jobs = await registry();
    const field = refusedField;
    expect(field(() => jobs.define('a b', () => {}))).toBe('category');
    expect(field(() => jobs.define('x', 'nope' as never))).toBe('work');
    expect(field(() => jobs.define('x', () => {}, { concurrency: 0 }))).toBe('concurrency');
    expect(field(() => jobs.define('x', () => {}, { retries: -1 }))).toBe('retries');
    expect(field(() => jobs.define('x', () => {}, { timeoutMs: 2 ** 31 }))).toBe('timeoutMs');
    expect(field(() => jobs.define('x', () => {}, { backoff: { factor: 0 } }))).toBe('backoff.factor');
    expect(field(() => jobs.define('x', () => {}, { concurrencyPer: 'peer' as never }))).toBe('concurrencyPer');
    expect(field(() => jobs.define('x', () => {}, { colour: 1 } as never))).toBe('colour');
    jobs.define('x', () => {});
    expect(field(() => jobs.define('x', () => {}))).toBe('category');
    await expect(jobs.run('undefined-category', {})).rejects.toMatchObject({ field: 'category' });
  });
});
