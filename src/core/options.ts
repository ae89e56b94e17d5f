import { JobsError } from '../protocol/errors.js';

/** The longest delay a timer takes: beyond it, Node and browsers fire at once (after 1 ms). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Reads an optional integer option: `fallback` when absent, otherwise an integer from `min` to `max`,
 * or a {@link JobsError} naming the option and who took it (`owner`, e.g. `jsonlStore`).
 */
export function integerOption(
  owner: string,
  field: string,
  value: unknown,
  fallback: number,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < min || (value as number) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `from ${min} to ${max}`;
    throw new JobsError('invalid_options', `${owner}: \`${field}\` must be an integer ${range}`, { field });
  }
  return value as number;
}

/**
 * An integer option that sets a timer: at most {@link MAX_TIMER_MS} (about 24.8 days), since a longer
 * delay would fire at once.
 */
export function timerOption(owner: string, field: string, value: unknown, fallback: number, min: number): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > MAX_TIMER_MS) {
    throw new JobsError(
      'invalid_options',
      `${owner}: \`${field}\` must be at most ${MAX_TIMER_MS} ms (about 24.8 days): a timer cannot wait longer`,
      { field },
    );
  }
  return integerOption(owner, field, value, fallback, min);
}

/** Reads an optional boolean option. */
export function booleanOption(owner: string, field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') {
    throw new JobsError('invalid_options', `${owner}: \`${field}\` must be true or false`, { field });
  }
  return value;
}

/** Reads an optional function option. */
export function functionOption<T>(owner: string, field: string, value: T | undefined, fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'function') {
    throw new JobsError('invalid_options', `${owner}: \`${field}\` must be a function`, { field });
  }
  return value;
}

/** Where faults go when no `onError` is given. */
export function logError(error: Error): void {
  console.error(`[realtime-jobs] ${error.message}`);
}
