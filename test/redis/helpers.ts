import { Redis } from 'ioredis';

/** The Redis the tests use. In CI it must answer: a test that needs Redis fails, never skips. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

let counter = 0;
/** A prefix no other test (or earlier run) uses. */
export function freshPrefix(name: string): string {
  return `rj-test-${name}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

/** Deletes every key of a prefix. */
export async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    const keys = await redis.keys(`{${prefix}}:*`);
    if (keys.length > 0) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}
