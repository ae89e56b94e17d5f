import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait.js';
import { JobsError } from '../protocol/errors.js';
import { memoryStore } from '../stores/memory.js';
import { createJobRegistry } from './registry.js';
import type { JobStore } from './store.js';

/**
 * A store whose first write starting a job lands but answers with a failure, as a shared store does
 * when the connection drops after it ran the write (and the client does not send it again).
 */
function lostAnswerStore(): JobStore {
  const inner = memoryStore();
  let lost = false;
  return Object.assign(Object.create(inner) as JobStore, {
    write: async (...args: Parameters<JobStore['write']>) => {
      const result = await inner.write(...args);
      if (!lost && result.ok && args[0].state === 'running') {
        lost = true;
        throw new JobsError('unavailable', 'the connection dropped before the answer came back');
      }
      return result;
    },
  });
}

describe('the start queue', () => {
  it('runs the work of a job whose start failed on the store but landed', async () => {
    const errors: string[] = [];
    const jobs = await createJobRegistry({ store: lostAnswerStore(), onError: (error) => errors.push(error.message) });
    let runs = 0;
    const job = await jobs.run({ category: 'lost-answer' }, async () => {
      runs++;
      return { ok: true };
    });
    await waitFor(() => jobs.get(job.id)?.state === 'success', 'the job to end', 4000);
    expect(runs).toBe(1);
    expect(jobs.get(job.id)?.attempt).toBe(1);
    expect(errors).toEqual([expect.stringMatching(/connection dropped/)]);
    await jobs.close();
  });
});
