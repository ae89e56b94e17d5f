import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { jsonlStore } from '../src/stores/jsonl.js';
import { memoryStore } from '../src/stores/memory.js';
import { storeConformanceCases } from '../src/testing/index.js';

describe('memory store conformance', () => {
  const cases = storeConformanceCases({
    singleProcess: true,
    // A memoryStore keeps its jobs across close/open in one process: the same instance is "the storage".
    storage: async () => {
      const store = memoryStore();
      return { store: () => store };
    },
  });
  for (const { name, run } of cases) it(name, run);
});

describe('jsonl store conformance', () => {
  const cases = storeConformanceCases({
    singleProcess: true,
    storage: async () => {
      const dir = await mkdtemp(join(tmpdir(), 'realtime-jobs-store-'));
      const path = join(dir, 'jobs.jsonl');
      return { store: () => jsonlStore({ path }), cleanup: () => rm(dir, { recursive: true, force: true }) };
    },
  });
  for (const { name, run } of cases) it(name, run);
});
