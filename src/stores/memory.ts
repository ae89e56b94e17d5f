import type { JobStore } from '../core/store.js';
import type { Job } from '../protocol/job.js';
import { createEventIdSequence, type EventIdSequence } from './event-ids.js';

/**
 * Keeps jobs in memory only: nothing survives the process. Reusing one instance for a later registry
 * in the same process hands that registry the jobs (tests use this to simulate a restart).
 */
export function memoryStore(): JobStore {
  const jobs = new Map<string, Job>();
  let ids: EventIdSequence | null = null;
  let opened = false;

  const sequence = (): EventIdSequence => {
    if (!ids) throw new Error('memoryStore: open() it (through createJobRegistry) before use');
    return ids;
  };

  return {
    kind: 'memory',
    async open() {
      if (opened) throw new Error('memoryStore: this store is already open in another registry');
      opened = true;
      ids = createEventIdSequence();
      return { jobs: [...jobs.values()], skipped: 0, repaired: false };
    },
    save(job) {
      const id = sequence().next();
      jobs.set(job.id, job);
      return id;
    },
    remove(removed) {
      for (const id of removed) jobs.delete(id);
    },
    head: () => sequence().head(),
    flush: async () => {},
    async close() {
      opened = false;
    },
    health: () => ({ ok: true, error: null, pendingWrites: 0, skipped: 0 }),
  };
}
