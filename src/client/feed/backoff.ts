/**
 * How long to wait before stream attempt `failures + 1`: the server's `retry:` doubled for every
 * failure since the last good stream, capped at `maxMs`, then stretched by up to 50% at random so a
 * restarted server is not hit by every open page in the same millisecond.
 */
export function backoffDelay(failures: number, retryMs: number, maxMs: number, random = Math.random()): number {
  return Math.min(maxMs, retryMs * 2 ** Math.max(0, failures - 1)) * (1 + random / 2);
}
