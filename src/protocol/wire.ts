/**
 * The stream's wire format: event names, event ids and the limits of the HTTP contract. The server
 * writes with these and the browser feed reads with them; neither spells a name or a limit itself.
 */

/** The `event:` names a job stream sends. */
export const STREAM_EVENT = {
  /** A job snapshot (`data` is the job as JSON). */
  update: 'job-update',
  /** The snapshot or replay is complete; live changes follow. `data`: `{ "head": "<event id>" }`. */
  ready: 'ready',
  /**
   * Log lines of a job, on streams opened with `logs=1` only. `data`: `{ "jobId": "…", "lines": [LogLine…] }`:
   * live, one line with the event's `id:`; in a snapshot, a job's kept lines without one.
   */
  log: 'job-log',
  /** The missed events could not be replayed; a full snapshot follows. `data`: `{ "reason": "…" }`. */
  resync: 'resync',
  /** Keeps the connection warm. `data`: `{ "at": "<ISO time>" }`. */
  heartbeat: 'heartbeat',
  /**
   * The server ended the stream on purpose and asks the client not to reconnect as it is.
   * `data`: `{ "reason": "unauthorized" | "forbidden" }`.
   */
  denied: 'denied',
} as const;

/** How many jobs a stream's snapshot and a poll carry at most. */
export const SNAPSHOT_LIMIT = 100;
/** The list route's `limit`: its default and its largest value. */
export const LIST_LIMIT = { default: 50, max: 500 } as const;
/** At most this many `job_id` values in one filter. */
export const MAX_JOB_IDS = 100;
/** At most this many `target.<field>` parameters in one query. */
export const MAX_TARGET_FILTERS = 100;
/** A `Last-Event-ID` longer than this is malformed. */
export const MAX_EVENT_ID_LENGTH = 200;
/** The list route's `text` filter: at most this many characters. */
export const MAX_TEXT_FILTER_LENGTH = 200;

/** What an operator may do to a job: `POST {prefix}/{id}/{action}`. */
export const JOB_ACTIONS = ['cancel', 'retry', 'approve', 'reject'] as const;
export type JobAction = (typeof JOB_ACTIONS)[number];

/**
 * The same-origin proof an action needs besides the login (a CSRF defence for cookie sessions): this
 * request header with this value, unless the browser itself says `Sec-Fetch-Site: same-origin`. A page
 * on another site cannot send a custom header without a CORS preflight, which the routes never grant.
 */
export const ACTION_PROOF_HEADER = { name: 'X-Realtime-Jobs', value: '1' } as const;

/**
 * An event id: `<epoch>-<position>`, where the position is one integer (`k3x9q-42`) or two
 * (`k3x9q-1764500000000-3`, a Redis stream id). Ids of one epoch are totally ordered by position;
 * ids of different epochs are unrelated, and a resume across epochs is always a resync.
 */
export interface EventId {
  readonly epoch: string;
  readonly major: number;
  readonly minor: number;
}

const EVENT_ID = /^([a-z0-9]{1,32})-(0|[1-9][0-9]{0,15})(?:-(0|[1-9][0-9]{0,15}))?$/;

/** Splits an event id; `null` for anything that is not one. */
export function parseEventId(id: string): EventId | null {
  if (typeof id !== 'string') return null;
  const match = EVENT_ID.exec(id);
  if (!match) return null;
  const major = Number(match[2]);
  const minor = match[3] === undefined ? 0 : Number(match[3]);
  if (!Number.isSafeInteger(major) || !Number.isSafeInteger(minor)) return null;
  return { epoch: match[1] as string, major, minor };
}

/** Orders two positions of the same epoch: negative when `a` comes first. */
export function comparePositions(a: EventId, b: EventId): number {
  return a.major - b.major || a.minor - b.minor;
}
