import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createJobRegistry } from '../../src/index.js';
import { redisStore } from '../../src/stores/redis/index.js';
import { storeConformanceCases } from '../../src/testing/index.js';
import { refusedField } from '../support/refusal.js';
import { dropPrefix, freshPrefix, REDIS_URL } from './helpers.js';
import { PrivateRedis } from './instances.js';

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

describe('redis store', () => {
  it('answers resync for an id the trimmed stream no longer holds, and replays one it still does', async () => {
    const prefix = freshPrefix('trim');
    const registry = await createJobRegistry({ store: redisStore({ url: REDIS_URL, prefix, streamMaxLength: 10 }) });
    try {
      const job = await registry.enqueue({ category: 'trim', state: 'running' });
      const first = registry.head();
      for (let i = 1; i <= 300; i++) await registry.update(job.id, { progress: i / 300 });
      expect(await registry.eventsSince(first)).toMatchObject({
        kind: 'resync',
        reason: /older than the stream keeps/,
      });
      const recent = registry.head();
      await registry.update(job.id, { message: 'one more' });
      const replay = await registry.eventsSince(recent);
      expect(replay.kind).toBe('replay');
      expect(replay.kind === 'replay' && replay.events.map((event) => event.job.message)).toEqual(['one more']);
    } finally {
      await registry.close();
      await dropPrefix(prefix);
    }
  });

  it('refuses bad options, naming the field', () => {
    const field = refusedField;
    expect(field(() => redisStore({ url: 'http://x' }))).toBe('url');
    expect(field(() => redisStore({ prefix: 'a b' }))).toBe('prefix');
    expect(field(() => redisStore({ leaseMs: 2 ** 31 }))).toBe('leaseMs');
    expect(field(() => redisStore({ leaseMs: 10 }))).toBe('leaseMs');
    expect(field(() => redisStore({ streamMaxLength: 1 }))).toBe('streamMaxLength');
    expect(field(() => redisStore({ client: {} as never }))).toBe('client');
    expect(field(() => redisStore({ nope: 1 } as never))).toBe('nope');
  });

  it('fails to open, with an unavailable error, when Redis cannot be reached', async () => {
    const store = redisStore({ url: 'redis://127.0.0.1:1', openTimeoutMs: 300 });
    await expect(createJobRegistry({ store, onError: () => {} })).rejects.toMatchObject({ code: 'unavailable' });
  });

  it('warns at start when Redis may evict job keys (an allkeys-* maxmemory-policy)', async () => {
    const redis = await PrivateRedis.start(['--maxmemory-policy', 'allkeys-lru']);
    const errors: string[] = [];
    try {
      const registry = await createJobRegistry({
        store: redisStore({ url: redis.url }),
        onError: (error) => errors.push(error.message),
      });
      await registry.close();
      expect(errors.join('\n')).toMatch(/maxmemory-policy is allkeys-lru/);
    } finally {
      await redis.stop();
    }
  });

  it('keeps every write across dropped connections: they wait for the reconnect and land in order', async () => {
    const redis = await PrivateRedis.start();
    const admin = new Redis(redis.url);
    const registry = await createJobRegistry({ store: redisStore({ url: redis.url }), onError: () => {} });
    try {
      const job = await registry.enqueue({ category: 'drops', state: 'running' });
      const seen: number[] = [];
      registry.subscribe({}, (event) => seen.push(event.job.version));
      const writes: Array<Promise<unknown>> = [];
      for (let i = 1; i <= 200; i++) {
        writes.push(registry.update(job.id, { message: `write ${i}` }));
        // Every store connection (commands and the blocking reader) is cut, again and again.
        if (i % 40 === 0) await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
        if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await Promise.all(writes);
      const final = registry.get(job.id);
      expect(final?.message).toBe('write 200');
      for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeGreaterThan(seen[i - 1] as number);
      expect(seen.at(-1)).toBe(final?.version);
    } finally {
      await registry.close();
      admin.disconnect();
      await redis.stop();
    }
  });
});
