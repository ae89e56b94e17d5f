import { describe, expect, it } from 'vitest';
import { jobWhen, testRegistry as registry } from '../../test/support/registries.js';
import { waitFor } from '../../test/support/wait.js';

// What run() does with a work function, through the registry: progress, how the work ends, timeouts,
// idempotency keys and cancel.

describe('run', () => {
  it('reports progress through ctx and ends as success with the returned result beside its data', async () => {
    const jobs = await registry();
    const versions: string[] = [];
    jobs.subscribe({}, (event) => versions.push(`${event.job.state}:${event.job.progress}`));
    const job = await jobs.run({ category: 'dedalus-verify', data: { key: 'k1' } }, async (ctx) => {
      ctx.progress(0.5, { phase: 'calling', message: 'Calling Dedalus…' });
      return { models: 3 };
    });
    expect(job.state).toBe('queued');
    const done = await jobWhen(jobs, job.id, (j) => j.state === 'success');
    expect(done).toMatchObject({
      phase: 'calling',
      message: 'Calling Dedalus…',
      data: { key: 'k1' },
      result: { models: 3 },
      error: null,
      attempt: 1,
      progress: 1,
    });
    expect(versions).toEqual(['queued:null', 'running:null', 'running:0.5', 'success:1']);
  });

  it('ends as warning after ctx.warn, pending after ctx.awaitApproval, error on a throw', async () => {
    const jobs = await registry();
    const warned = await jobs.run({ category: 'c' }, (ctx) => ctx.warn('Applied an unsigned bundle'));
    const held = await jobs.run({ category: 'c' }, (ctx) => ctx.awaitApproval('Unsigned bundle: approve or reject'));
    const failed = await jobs.run({ category: 'c' }, async () => {
      throw new Error('peer-b is down');
    });
    expect(await jobWhen(jobs, warned.id, (j) => j.state === 'warning')).toMatchObject({
      message: 'Applied an unsigned bundle',
    });
    expect(await jobWhen(jobs, held.id, (j) => j.state === 'pending')).toMatchObject({
      message: 'Unsigned bundle: approve or reject',
    });
    expect(await jobWhen(jobs, failed.id, (j) => j.state === 'error')).toMatchObject({ message: 'peer-b is down' });
  });

  it('ends as error when the work returns something that is not a JSON object', async () => {
    const jobs = await registry();
    const job = await jobs.run({ category: 'c' }, () => ({ when: new Date() }) as never);
    expect((await jobWhen(jobs, job.id, (j) => j.state === 'error')).message).toMatch(/`data`/);
  });

  it('times out: error, and the signal aborts', async () => {
    const jobs = await registry();
    let signal: AbortSignal | undefined;
    const job = await jobs.run(
      { category: 'c' },
      (ctx) =>
        new Promise<void>((resolve) => {
          signal = ctx.signal;
          ctx.signal.addEventListener('abort', () => resolve());
        }),
      { timeoutMs: 30 },
    );
    expect((await jobWhen(jobs, job.id, (j) => j.state === 'error')).message).toBe('Timed out after 30 ms');
    expect(signal?.aborted).toBe(true);
    await expect(jobs.run({ category: 'c' }, () => {}, { timeoutMs: -1 })).rejects.toThrow(/`timeoutMs`/);
  });

  it('returns the busy job for the same category, target and key instead of a duplicate', async () => {
    const jobs = await registry();
    let runs = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const work = async () => {
      runs++;
      await gate;
    };
    const first = await jobs.run({ category: 'sync-push', target: { peer: 'b' }, key: 'default' }, work);
    const second = await jobs.run({ category: 'sync-push', target: { peer: 'b' }, key: 'default' }, work);
    const otherPeer = await jobs.run({ category: 'sync-push', target: { peer: 'c' }, key: 'default' }, work);
    expect(second.id).toBe(first.id);
    expect(otherPeer.id).not.toBe(first.id);
    await jobWhen(jobs, first.id, (j) => j.state === 'running');
    expect((await jobs.run({ category: 'sync-push', target: { peer: 'b' }, key: 'default' }, work)).id).toBe(first.id);
    release();
    await jobWhen(jobs, first.id, (j) => j.state === 'success');
    await jobWhen(jobs, otherPeer.id, (j) => j.state === 'success');
    expect(runs).toBe(2);
    const third = await jobs.run({ category: 'sync-push', target: { peer: 'b' }, key: 'default' }, work);
    expect(third.id).not.toBe(first.id);
  });

  it('cancel ends a busy job, aborts its work, and ignores later progress', async () => {
    const jobs = await registry();
    let ctxSignal: AbortSignal | undefined;
    let workReturned = () => {};
    const returned = new Promise<void>((resolve) => {
      workReturned = resolve;
    });
    const job = await jobs.run({ category: 'c' }, async (ctx) => {
      ctxSignal = ctx.signal;
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      ctx.progress(0.9);
      workReturned();
      return { late: true };
    });
    // Running, and its work started.
    await waitFor(() => ctxSignal !== undefined, 'the work to start');
    const cancelled = await jobs.cancel(job.id);
    expect(cancelled.state).toBe('cancelled');
    await waitFor(() => ctxSignal?.aborted === true, 'the work to be aborted');
    await returned;
    // A turn of the event loop for whatever the runner would do with the late progress and result.
    await new Promise((resolve) => setImmediate(resolve));
    expect(jobs.get(job.id)).toBe(cancelled);
    expect(await jobs.cancel(job.id)).toBe(cancelled);
  });

  it('validates its arguments', async () => {
    const jobs = await registry();
    await expect(jobs.run({ category: 'c' }, 'work' as never)).rejects.toThrow(/work must be a function/);
    await expect(jobs.run({ category: '' }, () => {})).rejects.toThrow(/`category`/);
  });
});
