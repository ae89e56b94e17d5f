import type { ListPosition } from '../registry.js';

/**
 * A list page's `next`, as the wire carries it: `<queuedAt in ms, base 36>.<job id>`. Clients treat it
 * as opaque and only hand it back as `before`; the format may change in any release.
 */
const CURSOR = /^([0-9a-z]{1,11})\.([A-Za-z0-9_-]{1,64})$/;
/** The largest time a `Date` holds (±8.64e15 ms). */
const MAX_TIME_MS = 8.64e15;

export function encodeCursor(position: ListPosition): string {
  return `${Date.parse(position.queuedAt).toString(36)}.${position.id}`;
}

/** The position a cursor names; null for anything that is not one of ours. */
export function decodeCursor(cursor: string): ListPosition | null {
  const match = CURSOR.exec(cursor);
  if (!match) return null;
  const ms = Number.parseInt(match[1] as string, 36);
  if (!(ms <= MAX_TIME_MS)) return null;
  return { queuedAt: new Date(ms).toISOString(), id: match[2] as string };
}
