import type { LoginThrottleConfig } from './config.js';
import type { Db } from './db.js';

/** Wrong passwords are forgotten this long after the last one. */
const FORGET_MS = 15 * 60 * 1000;
/** The first wait, doubled with every further wrong password. */
const FIRST_WAIT_MS = 1000;
/** One address may get this many times more wrong passwords, over all accounts, before it waits. */
const ADDRESS_FACTOR = 4;

/**
 * Slows down password guessing without ever locking the right password out.
 *
 * The rule: wrong passwords are counted per account at one address, and per address over all
 * accounts. After `freeFailures` of them for one account from one address (4 × as many from one
 * address over all accounts), that address waits before its next try: 1 s, then 2 s, 4 s… doubling
 * with each further wrong password, up to `maxWaitMs`. A try during the wait is refused unchecked
 * (the caller answers 429 with Retry-After), so it teaches nothing and does not count. Nothing is
 * counted per account alone: a lock on the account would let anyone lock its owner out. So the right
 * password from another address is never held back, and from the guessing address only for the
 * wait in progress. Failures are forgotten 15 minutes after the last one, and for one account at
 * one address when the right password comes from there.
 *
 * Kept in SQLite, so replicas of one peer sharing the database share the counts.
 */
export function loginThrottle(
  db: Db,
  { freeFailures, maxWaitMs, now = Date.now }: LoginThrottleConfig & { now?: () => number },
) {
  const statements = {
    get: db.prepare<[string], { failures: number; last_at: number }>(
      'SELECT failures, last_at FROM login_failures WHERE key = ?',
    ),
    fail: db.prepare(
      `INSERT INTO login_failures (key, failures, last_at) VALUES (?, 1, ?)
       ON CONFLICT (key) DO UPDATE SET
         failures = CASE WHEN last_at < ? THEN 1 ELSE failures + 1 END, last_at = excluded.last_at`,
    ),
    forget: db.prepare('DELETE FROM login_failures WHERE key = ?'),
    sweep: db.prepare('DELETE FROM login_failures WHERE last_at < ?'),
  };
  const keys = (username: string, address: string) => [
    { key: `account ${String(username).slice(0, 100)} at ${address}`, free: freeFailures },
    { key: `address ${address}`, free: freeFailures * ADDRESS_FACTOR },
  ];
  const waitAfter = (failures: number, free: number) =>
    failures < free ? 0 : Math.min(FIRST_WAIT_MS * 2 ** (failures - free), maxWaitMs);

  const recordFailure = db.transaction((username: string, address: string) => {
    const at = now();
    statements.sweep.run(at - FORGET_MS);
    for (const { key } of keys(username, address)) statements.fail.run(key, at, at - FORGET_MS);
  });

  return {
    /** Milliseconds this address must still wait before trying `username` again; 0: it may try now. */
    waitMs(username: string, address: string): number {
      const at = now();
      let wait = 0;
      for (const { key, free } of keys(username, address)) {
        const row = statements.get.get(key);
        if (!row || row.last_at < at - FORGET_MS) continue;
        wait = Math.max(wait, row.last_at + waitAfter(row.failures, free) - at);
      }
      return wait;
    },
    failed(username: string, address: string): void {
      recordFailure(username, address);
    },
    /** The right password: this account starts afresh at this address (the address's count stays). */
    succeeded(username: string, address: string): void {
      const [account] = keys(username, address);
      if (account) statements.forget.run(account.key);
    },
  };
}
