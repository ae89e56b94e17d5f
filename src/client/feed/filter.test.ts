import { describe, expect, it } from 'vitest';
import type { Job } from '../../protocol/job.js';
import { backoffDelay } from './backoff.js';
import { coversFilter, matchesFilter, normalizeFilter, unionFilters } from './filter.js';
import { listUrl, streamUrl } from './requests.js';

const job = (fields: Partial<Job>) => ({ id: 'j1', category: 'sync-push', target: { peer: 'a' }, ...fields }) as Job;

describe('filters', () => {
  it('normalizes one value or several, dropping duplicates; absent or empty means any', () => {
    expect(normalizeFilter({ jobId: 'j1', category: ['a', 'a', 'b'], target: { peer: 'x', key: [] } })).toEqual({
      jobId: ['j1'],
      category: ['a', 'b'],
      target: { peer: ['x'] },
    });
    expect(normalizeFilter({})).toEqual({ jobId: undefined, category: undefined, target: {} });
  });

  it('refuses what the routes would refuse, naming the field', () => {
    expect(() => normalizeFilter(null as never)).toThrow(/`filter`/);
    expect(() => normalizeFilter({ jobId: 'not an id!' })).toThrow(/`filter.jobId`/);
    expect(() => normalizeFilter({ category: 'x'.repeat(101) })).toThrow(/`filter.category`/);
    expect(() => normalizeFilter({ category: 7 as never })).toThrow(/`filter.category` must be a string/);
    expect(() => normalizeFilter({ target: 'peer' as never })).toThrow(/`filter.target`/);
    expect(() => normalizeFilter({ target: { 'bad field': 'x' } })).toThrow(/`filter.target.bad field`/);
    expect(() => normalizeFilter({ target: { peer: 'x'.repeat(257) } })).toThrow(/`filter.target.peer`/);
  });

  it('matches: values of one field OR, fields AND', () => {
    const filter = normalizeFilter({ category: ['sync-push', 'sync-pull'], target: { peer: ['a', 'b'] } });
    expect(matchesFilter(filter, job({}))).toBe(true);
    expect(matchesFilter(filter, job({ category: 'other' }))).toBe(false);
    expect(matchesFilter(filter, job({ target: { peer: 'c' } }))).toBe(false);
    expect(matchesFilter(filter, job({ target: {} }))).toBe(false);
  });

  it('unites filters into the smallest one the routes can express, which covers each', () => {
    const a = normalizeFilter({ category: 'sync-push', target: { peer: 'a' } });
    const b = normalizeFilter({ category: 'sync-pull', target: { peer: 'b' } });
    const c = normalizeFilter({ jobId: 'j9' });
    const ab = unionFilters([a, b]);
    expect(ab).toEqual({ jobId: undefined, category: ['sync-push', 'sync-pull'], target: { peer: ['a', 'b'] } });
    expect(coversFilter(ab, a) && coversFilter(ab, b)).toBe(true);
    expect(coversFilter(a, ab)).toBe(false);
    // A filter without a field wants any value of it: so does the union.
    expect(unionFilters([a, c])).toEqual({ jobId: undefined, category: undefined, target: {} });
  });

  it('asks for any id past MAX_JOB_IDS ids, which the routes would refuse', () => {
    const ids = Array.from({ length: 101 }, (_, i) => normalizeFilter({ jobId: `j${i}` }));
    expect(unionFilters(ids).jobId).toBeUndefined();
    expect(unionFilters(ids.slice(0, 100)).jobId).toHaveLength(100);
  });

  it('writes the routes’ query parameters', () => {
    const filter = normalizeFilter({ jobId: ['j1'], category: 'sync-push', target: { peer: ['a', 'b'] } });
    expect(streamUrl('https://x.test/jobs', filter)).toBe(
      'https://x.test/jobs/events?job_id=j1&category=sync-push&target.peer=a&target.peer=b',
    );
    expect(streamUrl('https://x.test/jobs', normalizeFilter({}))).toBe('https://x.test/jobs/events');
    expect(listUrl('https://x.test/jobs', normalizeFilter({ category: 'c' }))).toBe(
      'https://x.test/jobs?category=c&limit=100',
    );
  });
});

describe('backoff', () => {
  it('doubles from the server’s retry for each failure, up to the cap, plus up to 50% jitter', () => {
    expect([1, 2, 3, 4, 5].map((failures) => backoffDelay(failures, 3000, 30_000, 0))).toEqual([
      3000, 6000, 12000, 24000, 30000,
    ]);
    expect(backoffDelay(1, 3000, 30_000, 0.999)).toBeCloseTo(4498.5);
    expect(backoffDelay(9, 3000, 30_000, 1)).toBe(45_000);
  });
});
