import { integerOption } from '../core/options.js';
import type { JobStore } from '../core/store.js';
import { JobsError } from '../protocol/errors.js';
import type { Job, LogLine } from '../protocol/job.js';
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
  /** The jobs and their logs as they stand while no registry has the store open. */
  let kept = new Map<string, Job>();
  let keptLogs: Array<LogLine & { jobId: string }> = [];
  let keepLines = 0;

  const open = () => {
    if (!state.isOpen) throw new JobsError('closed', 'memoryStore: open() it (through createJobRegistry) before use');
  };

  return {
    kind: 'memory',
    async open(context) {
      if (state.isOpen) throw new JobsError('locked', 'memoryStore: this store is already open in another registry');
      keepLines = context.logLines;
      const { head, orphans } = state.open(context, kept.values(), keptLogs);
      return {
        jobs: [...state.jobs.values()],
        logs: Object.fromEntries(state.logs),
        head,
        orphans,
        skipped: 0,
        repaired: false,
      };
    },
    async create(job, options) {
      open();
      return state.create(job, options);
    },
    async write(job, options) {
      open();
      return state.write(job, options);
    },
    async appendLog(job, line) {
      open();
      return state.appendLog(job, line, keepLines);
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
      keptLogs = [...state.logs].flatMap(([jobId, lines]) => lines.map((line) => ({ ...line, jobId })));
      state.close();
    },
    health: () => ({ ok: true, error: null, pendingWrites: 0, skipped: 0 }),
  };
}
