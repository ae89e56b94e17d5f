import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JobStore } from '../src/core/store.js';
import { jsonlStore } from '../src/stores/jsonl.js';
import { memoryStore } from '../src/stores/memory.js';
import { describeStoreConformance } from './store-conformance.js';

describeStoreConformance('memory', async () => {
  // A memoryStore keeps its jobs across open/close in one process: the same instance is "the storage".
  const store = memoryStore();
  return { create: (): JobStore => store };
});

describeStoreConformance('jsonl', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'realtime-jobs-store-'));
  const path = join(dir, 'jobs.jsonl');
  return {
    create: () => jsonlStore({ path }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
