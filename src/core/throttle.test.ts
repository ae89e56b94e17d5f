import { afterEach, describe, expect, it } from 'vitest';
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

  it('adds at most what is left of the interval to updates that come about once per interval', async () => {
    const { received, progress } = await setup();
    const delays: number[] = [];
    for (let i = 1; i <= 10; i++) {
      const calledAt = performance.now();
      const before = received.length;
      void progress(i / 100);
      // Wait for this update to arrive, however it goes out, then the rest of the interval.
      while (received.length === before) await sleep(1);
      delays.push((received.at(-1)?.at ?? 0) - calledAt);
      await sleep(Math.max(0, INTERVAL - (performance.now() - calledAt)));
    }
    expect(received.map((r) => r.event.job.progress)).toEqual(Array.from({ length: 10 }, (_, i) => (i + 1) / 100));
    // A hold of a whole interval (the timer started when the update arrived) would show as ~50 ms.
    expect(Math.max(...delays)).toBeLessThan(INTERVAL / 2);
  });

  it('coalesces a flood: one frame per interval, the newest snapshot last, the hold never longer than the interval', async () => {
    const { received, progress } = await setup();
    const start = performance.now();
    let last = 0;
    while (performance.now() - start < 3 * INTERVAL) {
      last++;
      await progress(last / 10_000);
    }
    const floodEnded = performance.now();
    await sleep(INTERVAL + 20);
    const elapsed = floodEnded - start;
    // At once, then at most one per interval (plus the final flush).
    expect(received.length).toBeLessThanOrEqual(Math.ceil(elapsed / INTERVAL) + 2);
    expect(last).toBeGreaterThan(received.length * 5);
    expect(received.at(-1)?.event.job.progress).toBe(last / 10_000);
    expect((received.at(-1)?.at ?? 0) - floodEnded).toBeLessThanOrEqual(INTERVAL + 15);
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
