import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Job, JobState } from '../protocol/job.js';
import { compileFilter, type JobFilter } from './filter.js';
import { Subscribers } from './subscribers.js';

const STATES: JobState[] = ['queued', 'running', 'success'];
const id = fc.constantFrom('job-a', 'job-b', 'job-c');
const category = fc.constantFrom('push', 'pull');
const peer = fc.constantFrom('peer-a', 'peer-b');

const filter: fc.Arbitrary<JobFilter> = fc.record(
  {
    jobId: fc.array(id, { maxLength: 3 }),
    category: fc.array(category, { maxLength: 2 }),
    state: fc.array(fc.constantFrom(...STATES), { maxLength: 2 }),
    target: fc.oneof(
      fc.record({ peer }),
      fc.record({ peer: fc.array(peer, { maxLength: 2 }) }),
      fc.record({ peer, region: fc.constantFrom('eu', 'us') }),
    ),
    scopes: fc.array(fc.constantFrom('admin', 'ops'), { maxLength: 1 }),
  },
  { requiredKeys: [] },
);
const job = fc.record({
  id,
  category,
  state: fc.constantFrom(...STATES),
  scope: fc.constantFrom('admin', 'ops'),
  target: fc.oneof(fc.constant({}), fc.record({ peer }), fc.record({ peer, region: fc.constantFrom('eu', 'us') })),
}) as fc.Arbitrary<Job>;

describe('Subscribers', () => {
  it('routes each change to exactly the subscribers whose filter matches it, once each', () => {
    fc.assert(
      fc.property(
        fc.array(filter, { maxLength: 12 }),
        fc.array(fc.nat(11), { maxLength: 6 }),
        fc.array(job, { minLength: 1, maxLength: 10 }),
        (filters, removedAt, jobs) => {
          const subscribers = new Subscribers<number>();
          const removals = filters.map((wanted, n) => subscribers.add(wanted, n, false));
          const removed = new Set(removedAt.filter((n) => n < filters.length));
          for (const n of removed) {
            removals[n]?.();
            removals[n]?.(); // twice is harmless
          }
          expect(subscribers.size).toBe(filters.length - removed.size);
          for (const changed of jobs) {
            const reached: number[] = [];
            for (const bucket of subscribers.bucketsFor(changed)) {
              for (const subscriber of bucket) if (subscriber.matches(changed)) reached.push(subscriber.callback);
            }
            const expected = filters
              .map((wanted, n) => (!removed.has(n) && compileFilter(wanted)(changed) ? n : -1))
              .filter((n) => n >= 0);
            expect(reached.sort((a, b) => a - b)).toEqual(expected);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses a bad filter, naming the field, and keeps nothing of it', () => {
    const subscribers = new Subscribers<number>();
    expect(() => subscribers.add({ category: ['bad name!'] }, 1, false)).toThrow(/category/);
    expect(subscribers.size).toBe(0);
  });
});
