import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Job, JobState } from '../protocol/job.js';
import { type JobFilter, matcherOf, parseFilter } from './filter.js';
import { JobIndex, type PageKey } from './job-index.js';

const STATES: JobState[] = ['queued', 'running', 'success', 'error'];
const BASE = Date.UTC(2026, 10, 30);

function job(id: string, at: number, category: string, state: JobState, target: Record<string, string>): Job {
  const time = new Date(BASE + at).toISOString();
  return {
    id,
    category,
    target,
    scope: 'admin',
    state,
    phase: null,
    progress: null,
    message: null,
    data: {},
    result: null,
    error: null,
    attempt: 0,
    maxAttempts: 1,
    retryOf: null,
    key: null,
    queuedAt: time,
    startedAt: null,
    finishedAt: null,
    updatedAt: time,
    version: 1,
  };
}

const ids = fc.constantFrom('a1', 'a2', 'b1', 'b2', 'c1', 'c2', 'd1', 'e1', 'f1', 'g1', 'h1', 'i1');
const category = fc.constantFrom('push', 'pull', 'verify');
const target = fc.oneof(
  fc.constant({}),
  fc.record({ peer: fc.constantFrom('peer-a', 'peer-b') }),
  fc.record({ peer: fc.constantFrom('peer-a', 'peer-b'), region: fc.constantFrom('eu', 'us') }),
);
const operation = fc.oneof(
  fc.record({
    kind: fc.constant('set' as const),
    id: ids,
    at: fc.integer({ min: 0, max: 6 }),
    category,
    state: fc.constantFrom(...STATES),
    target,
  }),
  // An update that changes one indexed field only.
  fc.record({ kind: fc.constant('retarget' as const), id: ids, target }),
  fc.record({ kind: fc.constant('restate' as const), id: ids, state: fc.constantFrom(...STATES) }),
  fc.record({ kind: fc.constant('delete' as const), id: ids }),
  fc.record({ kind: fc.constant('deleteMany' as const), ids: fc.array(ids, { maxLength: 40 }) }),
);
const filter: fc.Arbitrary<JobFilter> = fc.record(
  {
    jobId: fc.array(ids, { maxLength: 4 }),
    category: fc.array(category, { maxLength: 2 }),
    state: fc.array(fc.constantFrom(...STATES), { maxLength: 2 }),
    target: fc.oneof(
      fc.record({ peer: fc.constantFrom('peer-a', 'peer-b') }),
      fc.record({ peer: fc.array(fc.constantFrom('peer-a', 'peer-b'), { maxLength: 2 }) }),
      fc.record({ region: fc.constantFrom('eu', 'us'), peer: fc.constantFrom('peer-a', 'peer-b') }),
    ),
  },
  { requiredKeys: [] },
);
const position = fc.option(
  fc.record({ at: fc.integer({ min: -1, max: 7 }).map((at) => BASE + at), id: fc.constantFrom(...'0abcdefghij') }),
  { nil: null },
);

/** Page order: newer first, then the greater id. */
const below = (a: PageKey, b: PageKey) => (a.at !== b.at ? a.at < b.at : a.id < b.id);

describe('JobIndex', () => {
  it('hands out, newest first from any position, every job a filter matches, and only held ones', () => {
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 60 }), filter, position, (operations, wanted, after) => {
        const index = new JobIndex();
        const held = new Map<string, Job>();
        for (const op of operations) {
          if (op.kind === 'set') {
            const next = job(op.id, op.at, op.category, op.state, op.target);
            index.set(next);
            held.set(op.id, next);
          } else if (op.kind === 'retarget' || op.kind === 'restate') {
            const old = held.get(op.id);
            if (!old) continue;
            const next = op.kind === 'retarget' ? { ...old, target: op.target } : { ...old, state: op.state };
            index.set(next);
            held.set(op.id, next);
          } else if (op.kind === 'delete') {
            index.delete(op.id);
            held.delete(op.id);
          } else {
            // Both paths: a few at once (one splice each) and many (one pass per list).
            index.deleteMany(op.ids.length > 20 ? [...op.ids, ...op.ids] : op.ids);
            for (const id of op.ids) held.delete(id);
          }
        }
        const parsed = parseFilter(wanted);
        const matches = matcherOf(parsed);
        const key = (j: Job): PageKey => ({ at: Date.parse(j.queuedAt), id: j.id });
        const expected = [...held.values()]
          .filter((j) => matches(j) && (!after || below(key(j), after)))
          .sort((a, b) => (below(key(a), key(b)) ? 1 : -1))
          .map((j) => j.id);
        const got = [...index.newestFirst(parsed, after)].filter(matches).map((j) => j.id);
        expect(got).toEqual(expected);
        expect(index.size).toBe(held.size);
        for (const state of STATES) {
          expect(index.countInState(state)).toBe([...held.values()].filter((j) => j.state === state).length);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('reads about what a filtered list returns, not every job held', () => {
    const index = new JobIndex();
    for (let i = 0; i < 10_000; i++) {
      const id = `job${String(i).padStart(5, '0')}`;
      index.set(job(id, i, 'push', 'success', { peer: `peer-${i % 100}` }));
    }
    const parsed = parseFilter({ target: { peer: 'peer-7' } });
    let read = 0;
    for (const found of index.newestFirst(parsed, null)) {
      read++;
      if (read === 10) break;
      expect(found.target.peer).toBe('peer-7');
    }
    expect(read).toBe(10);
    // The whole target reads its 100 jobs and stops: nothing else is visited.
    expect([...index.newestFirst(parsed, null)]).toHaveLength(100);
    expect([...index.newestFirst(parseFilter({ state: ['running'] }), null)]).toHaveLength(0);
  });
});
