import { afterEach, describe, expect, it, vi } from 'vitest';
import { createJobRegistry, type JobRegistry } from '../registry.js';
import { createJobsHandler } from './fetch-handler.js';

const registries: JobRegistry[] = [];
afterEach(async () => {
  for (const jobs of registries.splice(0)) await jobs.close();
});

/** Intervals created and not yet cleared, counted through the globals the library calls. */
function trackIntervals() {
  const live = new Set<unknown>();
  const realSet = globalThis.setInterval;
  const realClear = globalThis.clearInterval;
  vi.spyOn(globalThis, 'setInterval').mockImplementation(((...args: Parameters<typeof setInterval>) => {
    const handle = realSet(...args);
    live.add(handle);
    return handle;
  }) as typeof setInterval);
  vi.spyOn(globalThis, 'clearInterval').mockImplementation((handle) => {
    live.delete(handle);
    realClear(handle);
  });
  return live;
}
afterEach(() => {
  vi.restoreAllMocks();
});

describe('stream resources', () => {
  it('a closed connection leaves no listener and no timer behind', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    const handle = createJobsHandler(jobs, { allowAnonymous: true, heartbeatMs: 10 });
    const intervals = trackIntervals();
    const baseline = jobs.health().subscribers;

    const responses = await Promise.all(
      [1, 2, 3].map(() => handle(new Request('http://localhost/api/admin/jobs/events'))),
    );
    const readers = responses.map((response) => response.body?.getReader());
    // The heartbeat timer runs while streams are open: one for the endpoint, not one per stream.
    expect(intervals.size).toBe(1);
    // The streams share one registry subscription, released with the last of them.
    expect(jobs.health().subscribers).toBe(baseline + 1);
    const first = await readers[0]?.read();
    expect(new TextDecoder().decode(first?.value)).toContain('retry: 3000');

    for (const reader of readers) await reader?.cancel();
    expect(handle.openStreams).toBe(0);
    expect(jobs.health().subscribers).toBe(baseline);
    expect(intervals.size).toBe(0);
  });

  it('re-checks streams with one timer per endpoint, only while a stream with a principal is open', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    const authorize = () => ({ id: 'admin', scopes: ['admin'] });
    const intervals = trackIntervals();
    const open = async (handle: (request: Request) => Promise<Response>) => {
      const responses = await Promise.all(
        [1, 2, 3].map(() => handle(new Request('http://localhost/api/admin/jobs/events'))),
      );
      return responses.map((response) => response.body?.getReader());
    };

    const rechecked = createJobsHandler(jobs, { authorize });
    const readers = await open(rechecked);
    // A heartbeat timer and a re-check timer for three streams.
    expect(intervals.size).toBe(2);
    for (const reader of readers) await reader?.cancel();
    expect(intervals.size).toBe(0);

    // Off with 0, and nothing to re-check without authorize.
    for (const handle of [
      createJobsHandler(jobs, { authorize, reauthorizeMs: 0 }),
      createJobsHandler(jobs, { allowAnonymous: true }),
    ]) {
      const open3 = await open(handle);
      expect(intervals.size).toBe(1);
      for (const reader of open3) await reader?.cancel();
      expect(intervals.size).toBe(0);
    }
  });

  it('checks reauthorizeMs, heartbeatMs and onError, naming the field', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    const authorize = () => null;
    for (const reauthorizeMs of [-1, 1.5, 2 ** 31, Number.NaN, '60000']) {
      expect(() => createJobsHandler(jobs, { authorize, reauthorizeMs: reauthorizeMs as number })).toThrow(
        expect.objectContaining({ code: 'invalid_options', field: 'reauthorizeMs' }),
      );
    }
    expect(() => createJobsHandler(jobs, { authorize, reauthorizeMs: 2 ** 31 - 1 })).not.toThrow();
    // A timer cannot wait longer than 2^31-1 ms: beyond, it would fire at once, on every stream.
    expect(() => createJobsHandler(jobs, { authorize, heartbeatMs: 2 ** 31 })).toThrow(
      expect.objectContaining({ code: 'invalid_options', field: 'heartbeatMs' }),
    );
    expect(() => createJobsHandler(jobs, { authorize, reauthorizeMs: 0 })).not.toThrow();
    expect(() => createJobsHandler(jobs, { authorize, onError: 'log' as never })).toThrow(
      expect.objectContaining({ code: 'invalid_options', field: 'onError' }),
    );
  });

  it('refuses to start without authorize unless anonymous access is asked for', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    expect(() => createJobsHandler(jobs, {})).toThrow(/`authorize` is required/);
    expect(() => createJobsHandler(jobs, { authorize: 'yes' as never })).toThrow(/`authorize` must be a function/);
    expect(() => createJobsHandler(jobs, { allowAnonymous: true, heartbeatMs: 0 })).toThrow(/`heartbeatMs`/);
    expect(() => createJobsHandler(jobs, { allowAnonymous: true, prefix: 'api' })).toThrow(/`prefix`/);
    expect(() => createJobsHandler({} as never, { allowAnonymous: true })).toThrow(/job registry/);
  });

  it('answers 500 in the error shape, not a crash, when authorize returns a malformed principal', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    const errors: Error[] = [];
    const handle = createJobsHandler(jobs, {
      authorize: () => ({ id: 'x', scopes: 'admin' }) as never,
      onError: (error) => errors.push(error),
    });
    const response = await handle(new Request('http://localhost/api/admin/jobs'));
    expect(response.status).toBe(500);
    expect(await response.json()).toEqual({
      error: { code: 'internal_error', message: 'The job routes failed; the server log says why' },
    });
    expect(errors[0]?.message).toMatch(/authorize\(\) must return null or \{ id: string, scopes: string\[\] \}/);
  });
});

describe('actions', () => {
  const proof = { 'x-realtime-jobs': '1' };

  it('checks authorizeAction, naming the field', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    expect(() => createJobsHandler(jobs, { allowAnonymous: true, authorizeAction: true as never })).toThrow(
      expect.objectContaining({ code: 'invalid_options', field: 'authorizeAction' }),
    );
  });

  it('on an anonymous endpoint, authorizeAction gets a null principal and the job records no one', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    const asked: unknown[] = [];
    const handle = createJobsHandler(jobs, {
      allowAnonymous: true,
      authorizeAction: (principal, action, _job, context) => {
        asked.push([principal, action, context instanceof Request]);
        return true;
      },
    });
    const job = await jobs.enqueue({ category: 'sync-push', state: 'running' });
    const url = `http://localhost/api/admin/jobs/${job.id}/cancel`;
    const response = await handle(new Request(url, { method: 'POST', headers: proof }));
    expect(response.status).toBe(200);
    expect((await response.json()).job).toMatchObject({ state: 'cancelled', message: 'Cancelled' });
    expect(asked).toEqual([[null, 'cancel', true]]);
    const list = await handle(new Request('http://localhost/api/admin/jobs'));
    expect((await list.json()).permissions).toEqual({ [job.id]: ['cancel', 'retry', 'approve', 'reject'] });
  });

  it('a principal id longer than a job message allows is cut, not refused as bad input', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    const id = 'x'.repeat(300);
    const handle = createJobsHandler(jobs, {
      authorize: () => ({ id, scopes: ['admin'] }),
      authorizeAction: () => true,
    });
    const job = await jobs.enqueue({ category: 'sync-push', state: 'pending' });
    const response = await handle(
      new Request(`http://localhost/api/admin/jobs/${job.id}/approve`, { method: 'POST', headers: proof }),
    );
    expect(response.status).toBe(409); // no definition for the category: the registry's refusal, not a 400
    const cancel = await handle(
      new Request(`http://localhost/api/admin/jobs/${job.id}/cancel`, { method: 'POST', headers: proof }),
    );
    expect((await cancel.json()).job.message).toBe(`Cancelled by ${'x'.repeat(200)}`);
  });

  it('reads no body but reject’s, and only once every check has passed', async () => {
    const jobs = await createJobRegistry();
    registries.push(jobs);
    let allow = false;
    const handle = createJobsHandler(jobs, { allowAnonymous: true, authorizeAction: () => allow });
    const job = await jobs.enqueue({ category: 'sync-push', state: 'pending' });
    let pulled = 0;
    const body = () =>
      new ReadableStream<Uint8Array>(
        {
          pull(controller) {
            pulled++;
            controller.enqueue(new TextEncoder().encode('{"message":"No"}'));
            controller.close();
          },
        },
        // Pulled only when read, so `pulled` says whether the route read it.
        { highWaterMark: 0 },
      );
    const post = (action: string) =>
      handle(
        new Request(`http://localhost/api/admin/jobs/${job.id}/${action}`, {
          method: 'POST',
          headers: { ...proof, 'content-type': 'application/json' },
          body: body(),
          duplex: 'half',
        } as RequestInit),
      );
    expect((await post('reject')).status).toBe(403);
    expect(pulled).toBe(0);
    allow = true;
    const rejected = await post('reject');
    expect((await rejected.json()).job).toMatchObject({ state: 'cancelled', message: 'No' });
    expect(pulled).toBe(1);
  });
});
