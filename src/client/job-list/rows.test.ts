import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { job } from '../../../test/support/scripted-routes.js';
import type { Job } from '../../protocol/job.js';
import { Announcer, summarize } from './announcer.js';
import { appendPage, MAX_LOG_LINES, matchesQuery, mergeLines, placeOf, replaceRow } from './rows.js';

/** Job `n`, queued `n` seconds after a fixed time: higher is newer. */
const at = (n: number, fields: Partial<Job> = {}) =>
  job({ id: `j${n}`, queuedAt: new Date(Date.UTC(2026, 10, 28, 12, 0, n)).toISOString(), ...fields });
const ids = (rows: readonly Job[]) => rows.map((row) => row.id);

describe('paging: appendPage', () => {
  it('appends an older page after the rows', () => {
    expect(ids(appendPage([at(9), at(8)], [at(7), at(6)]))).toEqual(['j9', 'j8', 'j7', 'j6']);
  });

  it('keeps a job shown already where it is, in its newer version', () => {
    const rows = appendPage([at(9), at(8, { version: 3, state: 'success' })], [at(8, { version: 2 }), at(7)]);
    expect(ids(rows)).toEqual(['j9', 'j8', 'j7']);
    expect(rows[1]?.version).toBe(3);
    const newer = appendPage([at(9), at(8)], [at(8, { version: 5 })]);
    expect(newer[1]?.version).toBe(5);
  });

  it('loaded page by page while new jobs arrive on top: every job once, newest first, none missed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 12 }),
        (total, limit, arrivals) => {
          // The server: jobs newest first; a cursor is the last id of a page (a stand-in for the routes' opaque one).
          const server: Job[] = Array.from({ length: total }, (_, i) => at(total - 1 - i));
          let newest = total;
          const page = (before: string | null) => {
            const start = before === null ? 0 : server.findIndex((each) => each.id === before) + 1;
            const jobs = server.slice(start, start + limit);
            return { jobs, next: start + limit < server.length ? (jobs.at(-1)?.id ?? null) : null };
          };
          let answer = page(null);
          let rows: readonly Job[] = answer.jobs;
          for (let step = 0; answer.next !== null; step++) {
            // New jobs arrive live (on top) between pages.
            for (let k = 0; k < (arrivals[step] ?? 0); k++) {
              const fresh = at(newest++);
              server.unshift(fresh);
              const place = placeOf(rows, fresh, false);
              if (place >= 0) rows = [...rows.slice(0, place), fresh, ...rows.slice(place)];
            }
            answer = page(answer.next);
            rows = appendPage(rows, answer.jobs);
          }
          expect(ids(rows)).toEqual(ids(server));
        },
      ),
    );
  });
});

describe('live jobs: placeOf and replaceRow', () => {
  const rows = [at(9), at(7), at(5)];

  it('puts a newer job on top and one between rows in its place', () => {
    expect(placeOf(rows, at(10), false)).toBe(0);
    expect(placeOf(rows, at(8), false)).toBe(1);
    expect(placeOf(rows, at(6), false)).toBe(2);
  });

  it('leaves a job older than every row to its page, unless every page is loaded', () => {
    expect(placeOf(rows, at(4), false)).toBe(-1);
    expect(placeOf(rows, at(4), true)).toBe(3);
    expect(placeOf([], at(4), false)).toBe(-1);
    expect(placeOf([], at(4), true)).toBe(0);
  });

  it('orders jobs queued at the same time by id, greater first, as the routes page them', () => {
    expect(placeOf(rows, at(7, { id: 'j7z' }), false)).toBe(1);
    expect(placeOf(rows, at(7, { id: 'j6x' }), false)).toBe(2);
  });

  it('replaces a shown job only with a newer version', () => {
    const next = replaceRow(rows, at(7, { version: 2, state: 'success' }));
    expect(next.previous?.version).toBe(1);
    expect(next.rows[1]?.state).toBe('success');
    expect(replaceRow(next.rows, at(7, { version: 2 })).previous).toBeNull();
    expect(replaceRow(rows, at(3)).rows).toBe(rows);
  });
});

describe('matchesQuery', () => {
  const one = at(1, { state: 'error', category: 'sync', target: { peer: 'a' } });

  it('checks state, category and target; text is left to the server', () => {
    expect(matchesQuery(one, {})).toBe(true);
    expect(matchesQuery(one, { state: 'error', category: 'sync', targetField: 'peer', target: 'a' })).toBe(true);
    expect(matchesQuery(one, { state: 'running' })).toBe(false);
    expect(matchesQuery(one, { category: 'other' })).toBe(false);
    expect(matchesQuery(one, { targetField: 'peer', target: 'b' })).toBe(false);
    expect(matchesQuery(one, { targetField: 'region', target: 'a' })).toBe(false);
    // A target field alone (the form's empty input) filters nothing.
    expect(matchesQuery(one, { targetField: 'peer' })).toBe(true);
    expect(matchesQuery(one, { text: 'nothing like it' })).toBe(true);
  });
});

describe('mergeLines', () => {
  const line = (seq: number, text = `line ${seq}`) => ({
    seq,
    at: '2026-11-28T12:00:00.000Z',
    level: 'info' as const,
    text,
  });

  it('joins by seq, oldest first, without duplicates (a snapshot after a reconnect repeats lines)', () => {
    const held = mergeLines([], [line(1), line(2)]);
    expect(mergeLines(held, [line(3)]).map((each) => each.seq)).toEqual([1, 2, 3]);
    expect(mergeLines(held, [line(1), line(2), line(3), line(4)]).map((each) => each.seq)).toEqual([1, 2, 3, 4]);
    expect(mergeLines([line(5)], [line(3), line(4)]).map((each) => each.seq)).toEqual([3, 4, 5]);
  });

  it('drops what is not a log line, and keeps the newest lines past the cap', () => {
    expect(mergeLines([], [null, 'text', { seq: 'x' }, { seq: 1, text: 2 }, line(1)])).toEqual([line(1)]);
    const many = Array.from({ length: MAX_LOG_LINES + 5 }, (_, i) => line(i + 1));
    const kept = mergeLines([], many);
    expect(kept).toHaveLength(MAX_LOG_LINES);
    expect(kept[0]?.seq).toBe(6);
  });
});

describe('Announcer', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('says the first change at once, then at most one sentence per interval, each job’s latest news only', () => {
    const said: string[] = [];
    const announcer = new Announcer(() => said.push(announcer.text), 3000);
    announcer.say('a', 'a: Running.');
    vi.advanceTimersByTime(0);
    expect(said).toEqual(['a: Running.']);
    announcer.say('b', 'b: Running.');
    announcer.say('b', 'b: Succeeded.');
    vi.advanceTimersByTime(2999);
    expect(said).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(said).toEqual(['a: Running.', 'b: Succeeded.']);
    // The same words again are made new, so a screen reader reads them.
    vi.advanceTimersByTime(10_000);
    announcer.say('b', 'b: Succeeded.');
    vi.advanceTimersByTime(0);
    expect(said.at(-1)).toBe('b: Succeeded.\u00a0');
    announcer.say('c', 'c: Failed.');
    announcer.stop();
    vi.advanceTimersByTime(10_000);
    expect(said).toHaveLength(3);
  });

  it('summarize: up to three sentences as they are, more as a count and the latest', () => {
    expect(summarize(['a.', 'b.', 'c.'])).toBe('a. b. c.');
    expect(summarize(['a.', 'b.', 'c.', 'd.'])).toBe('4 jobs changed. Latest: d.');
  });
});
