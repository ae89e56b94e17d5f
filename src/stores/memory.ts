import { integerOption } from '../core/options.js';
import type { JobStore } from '../core/store.js';
import { JobsError } from '../protocol/errors.js';
import type { Job } from '../protocol/job.js';
import { LocalState } from './local-state.js';

export interface MemoryStoreOptions {
  /** How many recent events are kept for `Last-Event-ID` replay. @default 1000 */
  replayBufferSize?: number;
}

/**
 * Keeps jobs in memory only: nothing survives the process. Reusing one instance for a later registry
 * in the same process hands that registry the jobs (tests use this to simulate a restart); it still
 * starts a new epoch, so event ids from before get a resync.
 *
 * @example
 * const jobs = await createJobRegistry({ store: memoryStore({ replayBufferSize: 5000 }) });
 */
export function memoryStore(options: MemoryStoreOptions = {}): JobStore {
  if (typeof options !== 'object' || options === null) {
    throw new JobsError('invalid_options', 'memoryStore: options must be an object', { field: 'options' });
  }
  const replayBufferSize = integerOption('memoryStore', 'replayBufferSize', options.replayBufferSize, 1000, 0);
  const state = new LocalState(replayBufferSize);
  /** The jobs as they stand while no registry has the store open. */
  let kept = new Map<string, Job>();

  const open = () => {
    if (!state.isOpen) throw new JobsError('closed', 'memoryStore: open() it (through createJobRegistry) before use');
  };

  return {
    kind: 'memory',
    async open(context) {
      if (state.isOpen) throw new JobsError('locked', 'memoryStore: this store is already open in another registry');
      const { head, orphans } = state.open(context, kept.values());
      return { jobs: [...state.jobs.values()], head, orphans, skipped: 0, repaired: false };
    },
    async create(job) {
      open();
      return state.create(job);
    },
    async write(job) {
      open();
      return state.write(job);
    },
    async eventsSince(lastEventId) {
      open();
      return state.eventsSince(lastEventId);
    },
    async remove(ids) {
      state.remove(ids);
    },
    flush: async () => {},
    async close() {
      if (!state.isOpen) return;
      kept = new Map(state.jobs);
      state.close();
    },
    health: () => ({ ok: true, error: null, pendingWrites: 0, skipped: 0 }),
  };
}
