import { describe, expect, it } from 'vitest';
import { JobsError } from '../protocol/errors.js';
import { canTransition, JOB_STATES } from '../protocol/job.js';
import { createJobValidator } from './validate.js';

const validator = createJobValidator();

function refusal(fn: () => unknown): JobsError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(JobsError);
    return error as JobsError;
  }
  throw new Error('expected a refusal');
}

describe('enqueue input', () => {
  it('accepts a minimal and a full input', () => {
    expect(validator.enqueueInput({ category: 'sync-push' })).toEqual({ category: 'sync-push' });
    const full = {
      category: 'sync.pull:v2',
      target: { peer: 'peer-a' },
      scope: 'ops',
      key: 'default',
      state: 'pending' as const,
      phase: 'waiting',
      progress: 0.5,
      message: 'Waiting for approval',
      data: { bundle: { records: 3 }, list: [1, 'two', null, true] },
    };
    expect(validator.enqueueInput(full)).toEqual(full);
  });

  it.each([
    [{ category: '' }, 'category', /must not be empty/],
    [{ category: 'a b' }, 'category', /letters, digits/],
    [{ category: 'x'.repeat(101) }, 'category', /at most 100/],
    [{ category: 7 }, 'category', /must be a string/],
    [{}, 'category', /string/],
    [{ category: 'c', target: { peer: 5 } }, 'target.peer', /strings/],
    [{ category: 'c', target: { 'bad key': 'x' } }, 'target.bad key', /keys may only/],
    [{ category: 'c', target: { peer: 'x'.repeat(257) } }, 'target.peer', /at most 256/],
    [{ category: 'c', state: 'success' }, 'state', /queued, pending or running/],
    [{ category: 'c', progress: 1.5 }, 'progress', /between 0 and 1/],
    [{ category: 'c', progress: -0.1 }, 'progress', /between 0 and 1/],
    [{ category: 'c', progress: '0.5' }, 'progress', /number/],
    [{ category: 'c', message: 'x'.repeat(4001) }, 'message', /at most 4000/],
    [{ category: 'c', phase: 'x'.repeat(101) }, 'phase', /at most 100/],
    [{ category: 'c', data: [1, 2] }, 'data', /plain JSON object/],
    [{ category: 'c', data: 'text' }, 'data', /plain JSON object/],
    [{ category: 'c', data: new Date() }, 'data', /plain JSON object/],
    [{ category: 'c', colour: 'red' }, 'colour', /not a job field/],
  ])('refuses %j naming `%s`', (input, field, reason) => {
    const error = refusal(() => validator.enqueueInput(input));
    expect(error.code).toBe('invalid_input');
    expect(error.field).toBe(field);
    expect(error.message).toMatch(reason);
    expect(error.message).toContain(`\`${field}\``);
  });

  it('refuses more than 16 target entries', () => {
    const target = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(refusal(() => validator.enqueueInput({ category: 'c', target })).field).toBe('target');
  });

  it('refuses data that is not JSON or too large', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(refusal(() => validator.enqueueInput({ category: 'c', data: cyclic })).field).toBe('data');
    expect(refusal(() => validator.enqueueInput({ category: 'c', data: { f: () => 1 } })).message).toMatch(/not JSON/);
    expect(refusal(() => validator.enqueueInput({ category: 'c', data: { n: Number.NaN } })).message).toMatch(
      /not finite/,
    );
    const big = { blob: 'x'.repeat(64 * 1024) };
    expect(refusal(() => validator.enqueueInput({ category: 'c', data: big })).message).toMatch(/over the limit/);
  });

  it('copies data, so later changes by the caller do not reach the job', () => {
    const data = { nested: { n: 1 } };
    const valid = validator.enqueueInput({ category: 'c', data });
    data.nested.n = 2;
    expect(valid.data).toEqual({ nested: { n: 1 } });
  });

  it('applies configured limits and refuses bad ones', () => {
    const small = createJobValidator({ messageLength: 5 });
    expect(refusal(() => small.enqueueInput({ category: 'c', message: 'too long' })).message).toMatch(/at most 5/);
    expect(() => createJobValidator({ messageLength: 0 })).toThrow(/limits.messageLength/);
    expect(() => createJobValidator({ colour: 3 } as never)).toThrow(/limits.colour/);
  });
});

describe('patch', () => {
  it('names the job and the field', () => {
    const error = refusal(() => validator.patch('job1', { state: 'done' }));
    expect(error.field).toBe('state');
    expect(error.jobId).toBe('job1');
    expect(error.message).toMatch(/update of job job1: `state` must be one of/);
  });

  it('refuses fields an update may not set', () => {
    expect(refusal(() => validator.patch('j', { version: 9 })).field).toBe('version');
    expect(refusal(() => validator.patch('j', { finishedAt: 'now' })).field).toBe('finishedAt');
  });
});

describe('state machine', () => {
  it('never leaves a terminal state', () => {
    for (const from of ['success', 'warning', 'error', 'cancelled'] as const) {
      for (const to of JOB_STATES) expect(canTransition(from, to)).toBe(false);
    }
  });

  it('lets busy jobs finish, and never un-starts a running one', () => {
    for (const from of ['queued', 'pending', 'running'] as const) {
      for (const to of ['success', 'warning', 'error', 'cancelled'] as const)
        expect(canTransition(from, to)).toBe(true);
    }
    expect(canTransition('running', 'queued')).toBe(false);
    expect(canTransition('pending', 'queued')).toBe(true);
    expect(canTransition('running', 'pending')).toBe(true);
  });
});
