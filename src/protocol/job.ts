/**
 * The job as the wire carries it: types, states, the state machine, name and id patterns and the
 * default size limits. Server and browser both import this module, so it holds no dependency and no
 * runtime-specific code.
 */

/** Every state a job can be in. `pending` means waiting for a person (an approval). */
export const JOB_STATES = ['queued', 'pending', 'running', 'success', 'warning', 'error', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** States in which work is still to happen. */
export const BUSY_STATES: readonly JobState[] = ['queued', 'pending', 'running'];
/** States a job never leaves: every state that is not busy. */
// Pure: a bundle that never reads it (the browser's) drops it.
export const TERMINAL_STATES: readonly JobState[] = /* @__PURE__ */ JOB_STATES.filter(
  (state) => !BUSY_STATES.includes(state),
);

/** Whether work is still to happen: `queued`, `pending` or `running`. Takes any string (wire input). */
export function isBusy(state: string): boolean {
  return (BUSY_STATES as readonly string[]).includes(state);
}

export function isTerminal(state: JobState): boolean {
  return !isBusy(state);
}

/**
 * Which state may follow which. A terminal job never changes; a started job cannot go back to
 * `queued` (that would lose `startedAt`), but a `pending` one can, when its approval re-queues it.
 */
const NEXT_STATES: Record<JobState, readonly JobState[]> = {
  queued: ['queued', 'pending', 'running', 'success', 'warning', 'error', 'cancelled'],
  pending: ['pending', 'queued', 'running', 'success', 'warning', 'error', 'cancelled'],
  running: ['running', 'pending', 'success', 'warning', 'error', 'cancelled'],
  success: [],
  warning: [],
  error: [],
  cancelled: [],
};

export function canTransition(from: JobState, to: JobState): boolean {
  return NEXT_STATES[from].includes(to);
}

/** A JSON value: what `data` holds. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Why a job failed: a short code to act on, and the text a person reads. */
export interface JobError {
  /**
   * `thrown` (the work threw; `name` says more when it is an Error), `timeout`, `invalid_result` (the
   * work returned something that is not a JSON object within the limits), `restarted`, `shutdown`,
   * `lease_expired`, or the `code` of an error that carried a string one (`ECONNREFUSED`, …).
   */
  readonly code: string;
  readonly message: string;
  /** The attempt that failed (1 for the first run). */
  readonly attempt: number;
}

/** One line of a job's log (`ctx.log()`), kept with the job, the newest 200 by default. */
export interface LogLine {
  /** 1, 2, 3… per job: a line's place, also after older lines were dropped. */
  readonly seq: number;
  readonly at: string;
  readonly level: LogLevel;
  /** Text, never HTML. */
  readonly text: string;
}

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A job as the registry holds it and the wire carries it. Snapshots are frozen: never mutate one.
 * `Data` is what the job was started with (a definition's input), `Result` what its work returned.
 */
export interface Job<Data extends JsonObject = JsonObject, Result extends JsonObject = JsonObject> {
  /** Unguessable, URL-safe id; new ids sort in creation order (the creation time, then 78 random bits). */
  readonly id: string;
  /** The kind of work, e.g. `sync-push`. */
  readonly category: string;
  /** What it works on, e.g. `{ peer: 'peer-a' }`. */
  readonly target: Readonly<Record<string, string>>;
  /** Who may see it: a principal needs this scope. */
  readonly scope: string;
  readonly state: JobState;
  /** Short step name (`connecting`, `transferring`), or null. */
  readonly phase: string | null;
  /** 0..1, or null when indeterminate. */
  readonly progress: number | null;
  /** Human text. Always rendered as text, never as HTML. */
  readonly message: string | null;
  /** What the job was started with (a definition's input), or details set by its work. */
  readonly data: Readonly<Data>;
  /** What the work returned, once it ended `success` or `warning`; kept beside `data`, never instead of it. */
  readonly result: Readonly<Result> | null;
  /** Why it failed, when it ended `error` (or an attempt failed and it is retrying); else null. */
  readonly error: JobError | null;
  /** Runs started so far: 0 while queued for the first time, 1 during the first run. */
  readonly attempt: number;
  /** How many runs it may take: 1 plus its definition's `retries`. */
  readonly maxAttempts: number;
  /** The job this one retries (a `retry` action), or null. */
  readonly retryOf: string | null;
  /**
   * The idempotency key it was started with, or null. While the job is busy, starting another job
   * with the same category, target and key answers this one instead.
   */
  readonly key: string | null;
  readonly queuedAt: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
  readonly updatedAt: string;
  /** +1 on every change; a client drops anything not newer than what it holds. */
  readonly version: number;
}

/** Size limits on job fields. Each can be raised or lowered per registry. */
export interface JobLimits {
  /** @default 100 */
  categoryLength: number;
  /** @default 16 */
  targetEntries: number;
  /** @default 64 */
  targetKeyLength: number;
  /** @default 256 */
  targetValueLength: number;
  /** @default 100 */
  scopeLength: number;
  /** @default 100 */
  phaseLength: number;
  /** @default 4000 */
  messageLength: number;
  /** Bytes of `data` as JSON. @default 65536 */
  dataBytes: number;
  /** @default 200 */
  keyLength: number;
  /** Log lines kept per job (the oldest go first). @default 200 */
  logLines: number;
  /** Characters of one log line; longer ones are cut. @default 1000 */
  logLineLength: number;
}

export const DEFAULT_LIMITS: Readonly<JobLimits> = Object.freeze({
  categoryLength: 100,
  targetEntries: 16,
  targetKeyLength: 64,
  targetValueLength: 256,
  scopeLength: 100,
  phaseLength: 100,
  messageLength: 4000,
  dataBytes: 64 * 1024,
  keyLength: 200,
  logLines: 200,
  logLineLength: 1000,
});

/** Characters allowed in a category, a scope and a target key. */
export const NAME_PATTERN = /^[A-Za-z0-9._:-]+$/;
/** {@link NAME_PATTERN} in words, for error messages. */
export const NAME_CHARACTERS = 'letters, digits and . _ : -';
/** The longest job id a filter or a route accepts. */
export const MAX_JOB_ID_LENGTH = 64;
/** Job ids: the URL-safe alphabet (ids from other sources, up to the maximum length, are accepted too). */
export const JOB_ID_PATTERN = new RegExp(`^[A-Za-z0-9_-]{1,${MAX_JOB_ID_LENGTH}}$`);

/**
 * Whether `candidate` replaces `current` for a view that follows the newest job of an action (a tile,
 * a button): a newer version of the same job, or another job queued at the same time or later. An
 * older job's late update never takes the place of a newer job.
 */
export function replacesShownJob(candidate: Job, current: Job | null | undefined): boolean {
  if (!current) return true;
  if (candidate.id === current.id) return candidate.version > current.version;
  return Date.parse(candidate.queuedAt) >= Date.parse(current.queuedAt);
}
