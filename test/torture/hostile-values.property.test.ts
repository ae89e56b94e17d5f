import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createJobRegistry,
  createJobsEndpoint,
  createJobsHandler,
  isJobsError,
  type Job,
  type JobRegistry,
} from '../../src/index.js';
import { waitFor } from '../support/wait.js';

/**
 * Whatever a work function throws or returns, the job ends (as `error` with a message that is text
 * within the limit) and the host process lives: no unhandled rejection, no job left running.
 */

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
});
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
});

let registry: JobRegistry;
beforeAll(async () => {
  registry = await createJobRegistry({ onError: () => {}, limits: { messageLength: 300 } });
});
afterAll(() => registry.close());
afterEach(() => {
  expect(unhandled).toEqual([]);
});

async function runToEnd(work: () => unknown): Promise<Job> {
  const job = await registry.run({ category: 'hostile' }, work as never);
  await waitFor(
    () => registry.get(job.id)?.state !== 'queued' && registry.get(job.id)?.state !== 'running',
    `job ${job.id} to end`,
  );
  // A turn more, so anything the work left behind has had its chance to reject unhandled.
  await new Promise((resolve) => setTimeout(resolve, 0));
  return registry.get(job.id) as Job;
}

function expectSafeEnd(job: Job) {
  expect(job.state).toBe('error');
  expect(typeof job.message).toBe('string');
  expect((job.message as string).length).toBeLessThanOrEqual(300);
}

/** A Proxy whose every trap throws. */
const trapAll = () =>
  new Proxy(
    {},
    Object.fromEntries(
      ['get', 'has', 'ownKeys', 'getPrototypeOf', 'getOwnPropertyDescriptor', 'apply', 'construct', 'set'].map(
        (trap) => [
          trap,
          () => {
            throw new Error(`trap ${trap}`);
          },
        ],
      ),
    ),
  );

const HOSTILE: Array<[string, () => unknown]> = [
  ['an Error whose message is a number', () => Object.assign(new Error('x'), { message: 42 })],
  ['an Error whose message is an object', () => Object.assign(new Error('x'), { message: { deep: { er: 1 } } })],
  ['an Error whose message is an array', () => Object.assign(new Error('x'), { message: [1, 'two'] })],
  [
    'an Error whose message getter throws',
    () => {
      const error = new Error('x');
      Object.defineProperty(error, 'message', {
        get() {
          throw new Error('getter');
        },
      });
      return error;
    },
  ],
  ['a Proxy that throws on every trap', trapAll],
  [
    'a null-prototype object with a throwing toJSON',
    () => {
      const value = Object.create(null);
      value.toJSON = () => {
        throw new Error('toJSON');
      };
      return value;
    },
  ],
  ['a message far over the limit', () => new Error('x'.repeat(100_000))],
  ['undefined', () => undefined],
  ['a symbol', () => Symbol('s')],
  ['a BigInt', () => 10n ** 30n],
];

describe('hostile thrown values', () => {
  it.each(HOSTILE)('thrown %s: the job ends as error with a safe message', async (_what, make) => {
    expectSafeEnd(
      await runToEnd(() => {
        throw make();
      }),
    );
  });

  it.each(HOSTILE)('rejected with %s: the same', async (_what, make) => {
    expectSafeEnd(await runToEnd(() => Promise.reject(make())));
  });

  it('returned a Proxy that throws on every trap (even `then`): the job ends as error', async () => {
    expectSafeEnd(await runToEnd(() => trapAll()));
  });

  it('anything thrown or returned (fast-check): the job ends, and nothing escapes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.anything({ withBigInt: true, withNullPrototype: true, withMap: true, withSet: true }),
        fc.boolean(),
        async (value, thrown) => {
          const job = await runToEnd(() => {
            if (thrown) throw value;
            return value;
          });
          expect(['success', 'error']).toContain(job.state);
          if (job.state === 'error') expectSafeEnd(job);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('ctx.warn and ctx.awaitApproval with a text over the limit or no text at all end with a truncated message', async () => {
    const job = await registry.run({ category: 'hostile' }, (ctx) => {
      ctx.warn('w'.repeat(10_000));
    });
    await waitFor(() => registry.get(job.id)?.state === 'warning', 'warning');
    expect(registry.get(job.id)?.message).toBe('w'.repeat(300));
    const approval = await registry.run({ category: 'hostile' }, (ctx) => {
      ctx.awaitApproval(trapAll() as never);
    });
    await waitFor(() => registry.get(approval.id)?.state === 'pending', 'pending');
    expect(typeof registry.get(approval.id)?.message).toBe('string');
  });
});

describe('timer options longer than a timer can wait', () => {
  const tooLong = 2 ** 31; // 24.8 days and 1 ms: Node would fire it after 1 ms
  const refusal = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      if (isJobsError(error, 'invalid_options') || isJobsError(error, 'invalid_input')) return error.field;
      throw error;
    }
    return 'accepted';
  };

  it('are refused with invalid_options naming the field', async () => {
    for (const field of ['heartbeatMs', 'retryMs', 'throttleMs', 'stallTimeoutMs']) {
      expect(refusal(() => createJobsEndpoint(registry, { allowAnonymous: true, [field]: tooLong }))).toBe(field);
      expect(refusal(() => createJobsHandler(registry, { allowAnonymous: true, [field]: tooLong }))).toBe(field);
      expect(refusal(() => createJobsEndpoint(registry, { allowAnonymous: true, [field]: 2 ** 31 - 1 }))).toBe(
        'accepted',
      );
    }
    await expect(createJobRegistry({ retentionMs: tooLong })).rejects.toMatchObject({ field: 'retentionMs' });
    await expect(registry.run({ category: 'c' }, () => {}, { timeoutMs: tooLong })).rejects.toMatchObject({
      code: 'invalid_options',
      field: 'timeoutMs',
    });
  });

  it('a 24-day timeoutMs does not time a job out at once', async () => {
    let release = () => {};
    const job = await registry.run(
      { category: 'c' },
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      { timeoutMs: 2 ** 31 - 1 },
    );
    await waitFor(() => registry.get(job.id)?.state === 'running', 'running');
    // Real time on purpose: a timer over 2^31-1 ms fires after 1 ms, which a fake clock would not show.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(registry.get(job.id)?.state).toBe('running');
    release();
    await waitFor(() => registry.get(job.id)?.state === 'success', 'success');
  });
});
