import { afterEach, describe, expect, it, vi } from 'vitest';
import { createJobRegistry } from './registry.js';
import type { JobRegistry } from './registry-api.js';
import type { JobEvent } from './store.js';
import { createThrottledEvents } from './throttle.js';

const INTERVAL = 50;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let registry: JobRegistry | null = null;
afterEach(async () => {
  await registry?.close();
  registry = null;
});

/** A registry with one running job, a throttled subscriber on it, and what it received, when. */
async function setup() {
  registry = await createJobRegistry({ onError: () => {} });
  const job = await registry.enqueue({ category: 'push', target: { peer: 'a' }, state: 'running' });
  const received: Array<{ event: JobEvent; at: number }> = [];
  const subscribe = createThrottledEvents(registry, INTERVAL);
  const stop = subscribe({ jobId: [job.id] }, (event) => received.push({ event, at: performance.now() }));
  const progress = (value: number) => (registry as JobRegistry).update(job.id, { progress: value });
  return { job, received, stop, progress };
}

describe('createThrottledEvents', () => {
  it('sends the first progress change after a quiet window at once, before update() resolves', async () => {
    const { received, progress } = await setup();
    await progress(0.1);
    expect(received).toHaveLength(1);
    await sleep(INTERVAL + 10);
    const calledAt = performance.now();
    await progress(0.2);
    // Delivered synchronously with the registry's event: no timer stood between them.
    expect(received).toHaveLength(2);
    expect(received[1]?.event.job.progress).toBe(0.2);
    expect((received[1]?.at ?? Number.POSITIVE_INFINITY) - calledAt).toBeLessThan(INTERVAL / 5);
  });

  it('holds a change that comes early only for what is left of the interval, not a whole one', async () => {
    // Fake clocks: a loaded machine must not decide this test. The registry's writes are promises,
    // which fake timers leave alone.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    try {
      const { received, progress } = await setup();
      await progress(0.1);
      expect(received).toHaveLength(1);
      // 49 ms later, 1 ms before the interval ends: held…
      vi.advanceTimersByTime(INTERVAL - 1);
      await progress(0.2);
      expect(received).toHaveLength(1);
      // …for that last millisecond, not for another interval.
      vi.advanceTimersByTime(1);
      expect(received.map((r) => r.event.job.progress)).toEqual([0.1, 0.2]);
      // A whole interval of quiet after that: the next change goes out at once.
      vi.advanceTimersByTime(INTERVAL);
      await progress(0.3);
      expect(received.map((r) => r.event.job.progress)).toEqual([0.1, 0.2, 0.3]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('coalesces a flood: at most one frame per interval, the newest snapshot last', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance', 'Date'] });
    try {
      const { received, progress } = await setup();
      // 150 changes, one per millisecond: three intervals' worth.
      for (let i = 1; i <= 150; i++) {
        await progress(i / 1000);
        vi.advanceTimersByTime(1);
      }
      // The first at once, then one per interval.
      expect(received.length).toBeLessThanOrEqual(4);
      const times = received.map((r) => r.at);
      for (let i = 1; i < times.length; i++)
        expect((times[i] ?? 0) - (times[i - 1] ?? 0)).toBeGreaterThanOrEqual(INTERVAL);
      // The last one held goes out when its interval ends, and it is the newest.
      vi.advanceTimersByTime(INTERVAL);
      expect(received.at(-1)?.event.job.progress).toBe(0.15);
      expect(received.length).toBeLessThanOrEqual(5);
    } finally {
      vi.useRealTimers();
    }
  });

  it('sends a change of state at once, after the held progress', async () => {
    const { job, received, progress } = await setup();
    await progress(0.1);
    await progress(0.2); // held
    expect(received.map((r) => r.event.job.progress)).toEqual([0.1]);
    await (registry as JobRegistry).update(job.id, { state: 'success' });
    expect(received.map((r) => [r.event.job.state, r.event.job.progress])).toEqual([
      ['running', 0.1],
      ['running', 0.2],
      ['success', 1],
    ]);
  });
});
