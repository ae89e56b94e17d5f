import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Job } from '../protocol/job.js';
import { createJobRegistry, type JobRegistry } from './registry.js';

const open: JobRegistry[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const jobs of open.splice(0)) await jobs.close();
});

async function registry() {
  const jobs = await createJobRegistry({ onError: () => {} });
  open.push(jobs);
  return jobs;
}

/** Page order: newest `queuedAt` first, then the greater id. */
const pageOrder = (jobs: Job[]) =>
  [...jobs].sort((a, b) => Date.parse(b.queuedAt) - Date.parse(a.queuedAt) || (a.id < b.id ? 1 : -1));

/** Every page of a list, following `next`. */
function allPages(jobs: JobRegistry, limit: number, filter: { category?: string[]; text?: string } = {}) {
  const pages: Job[][] = [];
  let before: ReturnType<JobRegistry['page']>['next'] = null;
  do {
    const page = jobs.page({ ...filter, limit, before: before ?? undefined });
    pages.push(page.jobs);
    before = page.next;
  } while (before !== null && pages.length < 1000);
  return pages;
}

describe('page', () => {
  it('pages in (queuedAt, id) order whatever order jobs arrived in: none twice, none missed', async () => {
    // Jobs queued at times that go back and forth and often tie (several instances, skewed clocks).
    const times = fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 40 });
    await fc.assert(
      fc.asyncProperty(times, fc.integer({ min: 1, max: 12 }), async (offsets, limit) => {
        vi.useFakeTimers({ toFake: ['Date'] });
        const jobs = await registry();
        const created: Job[] = [];
        for (const offset of offsets) {
          vi.setSystemTime(1_764_500_000_000 + offset);
          created.push(await jobs.enqueue({ category: offset % 2 === 0 ? 'even' : 'odd' }));
        }
        const pages = allPages(jobs, limit);
        expect(pages.flat().map((job) => job.id)).toEqual(pageOrder(created).map((job) => job.id));
        expect(pages.slice(0, -1).every((page) => page.length === limit)).toBe(true);
        const even = allPages(jobs, limit, { category: ['even'] }).flat();
        expect(even.map((job) => job.id)).toEqual(
          pageOrder(created.filter((job) => job.category === 'even')).map((job) => job.id),
        );
        vi.useRealTimers();
        await jobs.close();
      }),
      { numRuns: 60 },
    );
  });

  it('says next: null on the last page, also one that ends exactly at the last job', async () => {
    const jobs = await registry();
    for (let i = 0; i < 4; i++) await jobs.enqueue({ category: 'c' });
    expect(jobs.page({ limit: 4 }).next).toBeNull();
    expect(jobs.page({ limit: 5 }).next).toBeNull();
    const first = jobs.page({ limit: 3 });
    expect(first.next).toEqual({ queuedAt: first.jobs[2]?.queuedAt, id: first.jobs[2]?.id });
    expect(jobs.page({ limit: 3, before: first.next ?? undefined })).toMatchObject({ next: null });
  });

  it('checks limit and before, naming the field', async () => {
    const jobs = await registry();
    for (const limit of [0, 501, 1.5]) {
      expect(() => jobs.page({ limit })).toThrow(expect.objectContaining({ code: 'invalid_input', field: 'limit' }));
    }
    for (const before of [{ queuedAt: 'yesterday', id: 'a' }, { queuedAt: new Date().toISOString() }, null]) {
      expect(() => jobs.page({ before: before as never })).toThrow(
        expect.objectContaining({ code: 'invalid_input', field: 'before' }),
      );
    }
  });
});

describe('the text filter', () => {
  it('finds a piece of the message, category, phase or a target value, ignoring case', async () => {
    const jobs = await registry();
    const a = await jobs.enqueue({ category: 'sync-push', message: 'Pushing to Peer-A' });
    const b = await jobs.enqueue({ category: 'export', phase: 'Transferring', target: { host: 'North-1' } });
    const found = (text: string) => jobs.page({ text }).jobs.map((job) => job.id);
    expect(found('PEER-a')).toEqual([a.id]);
    expect(found('SYNC')).toEqual([a.id]);
    expect(found('transf')).toEqual([b.id]);
    expect(found('north-1')).toEqual([b.id]);
    expect(found('')).toHaveLength(2);
    expect(found('admin')).toEqual([]); // the scope is not searched
    expect(jobs.list({ text: 'export' }).map((job) => job.id)).toEqual([b.id]);
    expect(() => jobs.page({ text: 'x'.repeat(201) })).toThrow(expect.objectContaining({ field: 'text' }));
    expect(() => jobs.page({ text: 42 as never })).toThrow(expect.objectContaining({ field: 'text' }));
  });
});
