import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { jobWhen, testRegistry as registry } from '../../test/support/registries.js';
import { waitFor } from '../../test/support/wait.js';
import { JobsError } from '../protocol/errors.js';
import { memoryStore } from '../stores/memory.js';
import { createJobRegistry, type JobEvent, RESTART_MESSAGE, SHUTDOWN_MESSAGE } from './registry.js';

// The registry's own rules: validation, the state machine, lists and subscriptions, replay, close and
// restart. What run() does with a work function is in runner.test.ts.

describe('enqueue and update', () => {
  it('creates a queued, frozen snapshot with registry-owned fields', async () => {
    const jobs = await registry();
    const job = await jobs.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
    expect(job).toMatchObject({
      category: 'sync-push',
      target: { peer: 'peer-a' },
      scope: 'admin',
      state: 'queued',
      phase: null,
      progress: null,
      message: null,
      data: {},
      startedAt: null,
      finishedAt: null,
      version: 1,
    });
    expect(job.id).toMatch(/^[A-Za-z0-9_-]{21}$/);
    expect(job.queuedAt).toBe(job.updatedAt);
    expect(Object.isFrozen(job)).toBe(true);
    expect(jobs.get(job.id)).toBe(job);
  });

  it('moves through states, bumping the version and setting timestamps', async () => {
    const jobs = await registry();
    const { id } = await jobs.enqueue({ category: 'c' });
    const running = await jobs.update(id, {
      state: 'running',
      phase: 'connecting',
      progress: 0.1,
      message: 'Connecting…',
    });
    expect(running).toMatchObject({ state: 'running', phase: 'connecting', progress: 0.1, version: 2 });
    expect(running.startedAt).not.toBeNull();
    const progressed = await jobs.update(id, { progress: 0.5 });
    expect(progressed).toMatchObject({ phase: 'connecting', message: 'Connecting…', progress: 0.5, version: 3 });
    expect(progressed.startedAt).toBe(running.startedAt);
    const done = await jobs.update(id, { state: 'success', data: { records: 3 } });
    expect(done).toMatchObject({ state: 'success', progress: 1, data: { records: 3 }, version: 4 });
    expect(done.finishedAt).not.toBeNull();
  });

  it('refuses any change to a finished job, naming the job and its state', async () => {
    const jobs = await registry();
    const { id } = await jobs.enqueue({ category: 'c' });
    await jobs.update(id, { state: 'error', message: 'boom' });
    await expect(jobs.update(id, { message: 'again' })).rejects.toThrow(
      `Job ${id} is error and a finished job never changes`,
    );
    try {
      await jobs.update(id, { state: 'running' });
    } catch (error) {
      expect(error).toMatchObject({ code: 'invalid_transition', jobId: id });
    }
  });

  it('refuses a transition the state machine does not allow', async () => {
    const jobs = await registry();
    const { id } = await jobs.enqueue({ category: 'c', state: 'running' });
    await expect(jobs.update(id, { state: 'queued' })).rejects.toThrow(/cannot go from running to queued/);
  });

  it('throws not_found for an unknown id', async () => {
    const jobs = await registry();
    await expect(jobs.update('nope', { progress: 0.2 })).rejects.toThrow(JobsError);
    await expect(jobs.update('nope', { progress: 0.2 })).rejects.toThrow(/No job with id "nope"/);
  });

  it('refuses bad input without changing anything', async () => {
    const jobs = await registry();
    const job = await jobs.enqueue({ category: 'c' });
    await expect(jobs.update(job.id, { progress: 2 })).rejects.toThrow(/`progress` must be between 0 and 1/);
    expect(jobs.get(job.id)).toBe(job);
  });
});

describe('list and subscribe', () => {
  it('lists newest first, filtered and limited', async () => {
    const jobs = await registry();
    const a = await jobs.enqueue({ category: 'sync-push', target: { peer: 'a' } });
    const b = await jobs.enqueue({ category: 'sync-pull', target: { peer: 'a' } });
    const c = await jobs.enqueue({ category: 'sync-push', target: { peer: 'b' } });
    await jobs.update(a.id, { state: 'success' });
    expect(jobs.list().map((job) => job.id)).toEqual([c.id, b.id, a.id]);
    expect(jobs.list({ limit: 1 }).map((job) => job.id)).toEqual([c.id]);
    expect(jobs.list({ category: ['sync-push'] }).map((job) => job.id)).toEqual([c.id, a.id]);
    expect(jobs.list({ category: ['sync-push'], target: { peer: 'a' } }).map((job) => job.id)).toEqual([a.id]);
    expect(jobs.list({ target: { peer: ['a', 'b'] }, state: ['queued'] }).map((job) => job.id)).toEqual([c.id, b.id]);
    expect(jobs.list({ jobId: [a.id, c.id] }).map((job) => job.id)).toEqual([c.id, a.id]);
    expect(jobs.list({ scopes: [] })).toEqual([]);
    expect(() => jobs.list({ limit: 0 })).toThrow(/`limit` must be an integer from 1 to 500/);
    expect(() => jobs.list({ state: ['done' as never] })).toThrow(/`state`/);
  });

  it('delivers matching events in order and stops after unsubscribe', async () => {
    const jobs = await registry();
    const seen: JobEvent[] = [];
    const off = jobs.subscribe({ category: ['wanted'] }, (event) => seen.push(event));
    const job = await jobs.enqueue({ category: 'wanted' });
    await jobs.enqueue({ category: 'other' });
    await jobs.update(job.id, { state: 'running' });
    off();
    await jobs.update(job.id, { state: 'success' });
    expect(seen.map((event) => event.job.version)).toEqual([1, 2]);
    const [first, second] = seen.map((event) => Number(event.id.split('-')[1]));
    expect(second).toBeGreaterThan(first as number);
    expect(jobs.health().subscribers).toBe(0);
  });

  it('reports a throwing listener and keeps going', async () => {
    const errors: Error[] = [];
    const jobs = await registry({ onError: (error) => errors.push(error) });
    const seen: number[] = [];
    jobs.subscribe({}, () => {
      throw new Error('listener broke');
    });
    jobs.subscribe({}, (event) => seen.push(event.job.version));
    await jobs.enqueue({ category: 'c' });
    expect(seen).toEqual([1]);
    expect(errors[0]?.message).toMatch(/listener broke/);
  });
});

describe('replay', () => {
  it('replays exactly the missed events, and resyncs when it cannot', async () => {
    const jobs = await registry({ store: memoryStore({ replayBufferSize: 3 }) });
    const seen: JobEvent[] = [];
    jobs.subscribe({}, (event) => seen.push(event));
    const { id } = await jobs.enqueue({ category: 'c' });
    await jobs.update(id, { progress: 0.1 });
    await jobs.update(id, { progress: 0.2 });
    await jobs.update(id, { progress: 0.3 });
    const [, second, third] = seen;
    const replay = await jobs.eventsSince(second?.id as string);
    expect(replay).toEqual({ kind: 'replay', events: seen.slice(2), head: jobs.head() });
    expect(await jobs.eventsSince(jobs.head())).toEqual({ kind: 'replay', events: [], head: jobs.head() });
    // The buffer holds events 2..4: resuming after 1 still misses nothing, after 0 it would.
    expect(await jobs.eventsSince(seen[0]?.id as string)).toEqual({
      kind: 'replay',
      events: seen.slice(1),
      head: jobs.head(),
    });
    const epoch = jobs.head().split('-')[0];
    expect(await jobs.eventsSince(`${epoch}-0`)).toMatchObject({ kind: 'resync', reason: /older/ });
    expect((await jobs.eventsSince(third?.id as string)).kind).toBe('replay');
    expect(await jobs.eventsSince('zzzz-1')).toMatchObject({ kind: 'resync', reason: /another epoch/ });
    expect(await jobs.eventsSince(`${jobs.head().split('-')[0]}-99`)).toMatchObject({
      kind: 'resync',
      reason: /newer/,
    });
    for (const bad of ['', 'garbage', '1-2-3-4', 'abc-', '-1', 'abc-01', 'x\ny-1']) {
      expect(await jobs.eventsSince(bad)).toMatchObject({ kind: 'resync', reason: 'malformed event id' });
    }
  });
});

describe('close and restart', () => {
  it('finishes queued and running jobs on close, keeps pending ones, and refuses new work', async () => {
    const store = memoryStore();
    const jobs = await createJobRegistry({ store });
    const queued = await jobs.enqueue({ category: 'c' });
    const running = await jobs.enqueue({ category: 'c', state: 'running' });
    const pending = await jobs.enqueue({ category: 'c', state: 'pending', message: 'Approve?' });
    let aborted = false;
    let started = false;
    await jobs.run({ category: 'c' }, (ctx) => {
      started = true;
      return new Promise<void>((resolve) =>
        ctx.signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        }),
      );
    });
    await waitFor(() => started, 'the work to start');
    let closedCalls = 0;
    jobs.onClose(() => closedCalls++);
    await jobs.close();
    expect(aborted).toBe(true);
    expect(closedCalls).toBe(1);
    expect(jobs.get(queued.id)).toMatchObject({ state: 'error', message: SHUTDOWN_MESSAGE });
    expect(jobs.get(running.id)).toMatchObject({ state: 'error', message: SHUTDOWN_MESSAGE });
    expect(jobs.get(pending.id)?.state).toBe('pending');
    await expect(jobs.enqueue({ category: 'c' })).rejects.toThrow(/closed/);
    await jobs.close();

    const again = await registry({ store });
    expect(again.get(pending.id)).toMatchObject({ state: 'pending', message: 'Approve?' });
    expect((await again.update(pending.id, { state: 'running' })).state).toBe('running');
  });

  it('a pending job keeps its idempotency key across a restart: a duplicate run still gets it', async () => {
    const store = memoryStore();
    const first = await createJobRegistry({ store });
    const job = await first.run({ category: 'sync-pull', target: { peer: 'b' }, key: 'sync' }, (ctx) => {
      ctx.awaitApproval('Approve the unsigned bundle?');
    });
    await jobWhen(first, job.id, (j) => j.state === 'pending');
    await first.close();
    const second = await registry({ store });
    const again = await second.run({ category: 'sync-pull', target: { peer: 'b' }, key: 'sync' }, () => {});
    expect(again.id).toBe(job.id);
    expect(again.key).toBe('sync');
    expect(second.list({ category: ['sync-pull'] })).toHaveLength(1);
  });

  it('finishes the busy jobs of a process that died as error with the restart message', async () => {
    const store = memoryStore();
    const crashed = await createJobRegistry({ store });
    const running = await crashed.enqueue({ category: 'c', state: 'running', progress: 0.4 });
    const pending = await crashed.enqueue({ category: 'c', state: 'pending' });
    // No close(): the process "died". A new registry on the same store loads what it saved.
    await store.close();
    const jobs = await registry({ store });
    expect(jobs.get(running.id)).toMatchObject({ state: 'error', message: RESTART_MESSAGE, progress: 0.4, version: 2 });
    expect(jobs.get(pending.id)?.state).toBe('pending');
    expect(jobs.list().map((job) => job.id)).toEqual([pending.id, running.id]);
  });

  it('prunes finished jobs after the retention period', async () => {
    const jobs = await registry({ retentionMs: 30 });
    const done = await jobs.enqueue({ category: 'c' });
    await jobs.update(done.id, { state: 'success' });
    const busy = await jobs.enqueue({ category: 'c' });
    await waitFor(() => jobs.get(done.id) === undefined, 'the finished job to be pruned');
    expect(jobs.get(busy.id)).toBeDefined();
  });

  it('never keeps the process alive with its timers', async () => {
    const script = `
      const { createJobRegistry } = await import(${JSON.stringify(new URL('../../dist/index.js', import.meta.url).href)});
      const jobs = await createJobRegistry();
      await jobs.enqueue({ category: 'c' });
      console.log('started');`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], {
      timeout: 10_000,
    });
    expect(stdout.trim()).toBe('started');
  });

  it('validates its options', async () => {
    await expect(createJobRegistry({ retentionMs: 0 })).rejects.toThrow(/`retentionMs`/);
    await expect(createJobRegistry({ store: {} as never })).rejects.toThrow(/`store` must be a JobStore/);
    await expect(createJobRegistry({ limits: { messageLength: -1 } })).rejects.toThrow(/limits.messageLength/);
  });
});
