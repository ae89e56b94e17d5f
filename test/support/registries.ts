import { onTestFinished } from 'vitest';
import { createJobRegistry, type JobRegistry, type JobRegistryOptions } from '../../src/core/registry.js';
import type { Job } from '../../src/protocol/job.js';
import { waitFor } from './wait.js';

/** A registry that closes when the test ends (closing twice is harmless, so a test may close it too). */
export async function testRegistry(options: JobRegistryOptions = {}): Promise<JobRegistry> {
  const registry = await createJobRegistry(options);
  onTestFinished(() => registry.close());
  return registry;
}

/** Waits until job `id` is in a state `reached` accepts, and returns that snapshot. */
export async function jobWhen(
  registry: JobRegistry,
  id: string,
  reached: (job: Job) => boolean,
  timeoutMs = 5000,
): Promise<Job> {
  const now = () => registry.get(id);
  await waitFor(() => now() !== undefined && reached(now() as Job), `job ${id} to reach the state wanted`, timeoutMs);
  return now() as Job;
}

/**
 * The registry, except that reading a snapshot fails: a stream then fails after its headers went
 * out, which is what the adapters must survive.
 */
export function withFailingList(registry: JobRegistry): JobRegistry {
  return new Proxy(registry, {
    get(target, property) {
      if (property === 'list' || property === 'page') {
        return () => {
          throw new Error('store unavailable');
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
