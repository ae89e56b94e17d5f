import { describe, expect, it } from 'vitest';
import { JOB_ID_PATTERN } from '../protocol/job.js';
import { createJobIdSource } from './job-ids.js';

describe('job ids', () => {
  it('are 21 URL-safe characters, all different, sorting in creation order within and across milliseconds', () => {
    const next = createJobIdSource();
    const ids: string[] = [];
    const start = Date.UTC(2026, 10, 30);
    for (let ms = 0; ms < 50; ms++) for (let i = 0; i < 200; i++) ids.push(next(start + ms));
    for (const id of ids) expect(id).toMatch(JOB_ID_PATTERN);
    // Never a leading `-`, which a command line would read as an option.
    expect(ids.every((id) => id.startsWith('F'))).toBe(true);
    expect(ids.every((id) => id.length === 21)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('never go backwards when the clock steps back', () => {
    const next = createJobIdSource();
    const first = next(2_000_000_000_000);
    const afterStepBack = next(1_999_999_999_000);
    expect(afterStepBack > first).toBe(true);
  });

  it('sort by time across sources (instances), whatever their random parts', () => {
    const a = createJobIdSource();
    const b = createJobIdSource();
    for (let ms = 1_700_000_000_000; ms < 1_700_000_000_000 + 64 ** 2 * 3; ms += 61) {
      expect(a(ms) < b(ms + 1)).toBe(true);
      expect(b(ms + 2) > a(ms + 1)).toBe(true);
    }
  });

  it('carry over every random digit: a long run within one millisecond stays ordered', () => {
    const next = createJobIdSource();
    let previous = next(1_800_000_000_000);
    for (let i = 0; i < 100_000; i++) {
      const id = next(1_800_000_000_000);
      expect(id > previous).toBe(true);
      previous = id;
    }
  });
});
