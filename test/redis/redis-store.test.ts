import { describe, it } from 'vitest';
import { redisStore } from '../../src/stores/redis/index.js';
import { storeConformanceCases } from '../../src/testing/index.js';
import { dropPrefix, freshPrefix, REDIS_URL } from './helpers.js';

describe('redis store conformance', () => {
  const cases = storeConformanceCases({
    singleProcess: false,
    shared: true,
    storage: async () => {
      const prefix = freshPrefix('conformance');
      return { store: () => redisStore({ url: REDIS_URL, prefix }), cleanup: () => dropPrefix(prefix) };
    },
  });
  for (const { name, run } of cases) it(name, run);
});
