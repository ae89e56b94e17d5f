import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS } from '../protocol/job.js';
import { fastStoredJob } from './stored-job.js';
import { createJobValidator } from './validate.js';

/** zod alone: what `storedJob` did before the fast path. */
const zodOnly = createJobValidator({}, { fastStoredJobs: false });
const slowStoredJob = (value: unknown): unknown => zodOnly.storedJob(value);

const time = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .date({ min: new Date('2000-01-01'), max: new Date('2050-01-01'), noInvalidDate: true })
      .map((d) => d.toISOString()),
  },
  { weight: 1, arbitrary: fc.constantFrom('2024-02-29T12:00:00Z', '2026-11-28T12:00:00.1Z') },
);

// Each field is valid but for a small chance of a value that is not (or of no value at all).
const bad = fc.oneof(
  fc.anything(),
  fc.constantFrom('', 'bad name', 'x'.repeat(5000), -1, 1.5, 2, Number.NaN, '2026-13-01T00:00:00Z', { extra: 1 }),
);
const field = (valid: fc.Arbitrary<unknown>) =>
  fc.oneof(
    { weight: 40, arbitrary: valid },
    { weight: 1, arbitrary: bad },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
const validName = fc.constantFrom('sync-push', 'a', 'dedalus.verify:1');

const storedLike = fc.record(
  {
    id: field(fc.constantFrom('job-1', 'abcDEF_-9')),
    category: field(validName),
    target: field(fc.dictionary(fc.constantFrom('peer', 'n'), fc.string({ maxLength: 4 }), { maxKeys: 2 })),
    scope: field(validName),
    state: field(fc.constantFrom('queued', 'pending', 'running', 'success', 'warning', 'error', 'cancelled')),
    phase: field(fc.option(fc.string({ maxLength: 5 }), { nil: null })),
    progress: field(fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: null })),
    message: field(fc.option(fc.string({ maxLength: 5 }), { nil: null })),
    data: field(fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 })),
    result: field(fc.option(fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }), { nil: null })),
    error: field(
      fc.option(
        fc.record({
          code: fc.constantFrom('thrown', 'timeout'),
          message: fc.string({ maxLength: 4 }),
          attempt: fc.nat(3),
        }),
        {
          nil: null,
        },
      ),
    ),
    attempt: field(fc.nat(4)),
    maxAttempts: field(fc.integer({ min: 1, max: 4 })),
    retryOf: field(fc.option(fc.constant('job-0'), { nil: null })),
    key: field(fc.option(fc.constant('push'), { nil: null })),
    queuedAt: field(time),
    startedAt: field(fc.option(time, { nil: null })),
    finishedAt: field(fc.option(time, { nil: null })),
    updatedAt: field(time),
    version: field(fc.integer({ min: 1, max: 5 })),
  },
  {
    requiredKeys: [
      'id',
      'category',
      'target',
      'scope',
      'state',
      'phase',
      'progress',
      'message',
      'data',
      'queuedAt',
      'startedAt',
      'finishedAt',
      'updatedAt',
      'version',
    ],
  },
);

describe('the fast path of reading a stored job', () => {
  it('accepts exactly what zod accepts, and builds the same job (2,000 generated records)', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(storedLike, (record) => {
        const fast = fastStoredJob(record, DEFAULT_LIMITS);
        let zod: unknown;
        let zodRefused = false;
        try {
          zod = slowStoredJob(record);
        } catch {
          zodRefused = true;
        }
        // The fast path never accepts what zod refuses, and builds exactly zod's job.
        if (fast) {
          accepted++;
          expect(zodRefused).toBe(false);
          expect(JSON.stringify(fast)).toBe(JSON.stringify(zod));
        } else if (zodRefused) refused++;
      }),
      { numRuns: 2000 },
    );
    // Both kinds were really compared.
    expect(accepted).toBeGreaterThan(200);
    expect(refused).toBeGreaterThan(200);
  });

  it('takes the usual record, and a record of 0.1 without the newer fields', () => {
    const base = {
      id: 'job-1',
      category: 'sync-push',
      target: { peer: 'peer-a' },
      scope: 'admin',
      state: 'success',
      phase: null,
      progress: 1,
      message: 'done',
      data: { n: 1 },
      queuedAt: '2026-11-28T12:00:00.000Z',
      startedAt: '2026-11-28T12:00:01.000Z',
      finishedAt: '2026-11-28T12:00:02.000Z',
      updatedAt: '2026-11-28T12:00:02.000Z',
      version: 3,
    };
    expect(fastStoredJob(base, DEFAULT_LIMITS)).toMatchObject({
      result: null,
      error: null,
      attempt: 0,
      maxAttempts: 1,
      key: null,
    });
    expect(fastStoredJob({ ...base, extra: 1 }, DEFAULT_LIMITS)).toBeNull();
  });
});
