/**
 * Every error code of the library, in one vocabulary: what a call throws ({@link JobsError}), what
 * the HTTP routes answer in their error JSON, and what the browser feed reports.
 *
 * - Calls: `invalid_input` (names the field), `invalid_options` (names the option), `not_found`,
 *   `invalid_transition`, `conflict` (another writer changed the job first), `closed`, `locked`,
 *   `unavailable` (the store cannot be reached).
 * - HTTP: `bad_request`, `unauthorized`, `forbidden`, `not_found`, `method_not_allowed`, `conflict`
 *   (an action the job's state does not allow), `too_many_requests`, `internal_error`.
 * - Feed: `unauthorized`, `forbidden`, `http`, `network`, `protocol`, `callback`.
 */
export type JobsErrorCode =
  | 'invalid_input'
  | 'invalid_options'
  | 'not_found'
  | 'invalid_transition'
  | 'conflict'
  | 'closed'
  | 'locked'
  | 'unavailable'
  | HttpErrorCode
  | 'http'
  | 'network'
  | 'protocol'
  | 'callback';

/** The codes the HTTP routes answer with, as `{ "error": { "code", "message", "field"? } }`. */
export type HttpErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'conflict'
  | 'too_many_requests'
  | 'internal_error';

/** The one error type the library throws on purpose, on the server and in the browser. */
export class JobsError extends Error {
  override readonly name: string = 'JobsError';
  readonly code: JobsErrorCode;
  /** The offending field, as a dotted path (`target.peer`, `progress`), when the input was at fault. */
  readonly field: string | undefined;
  /** The job the call was about, when there was one. */
  readonly jobId: string | undefined;
  /** The HTTP status, when an HTTP answer was at fault. */
  readonly status: number | undefined;

  constructor(
    code: JobsErrorCode,
    message: string,
    details: { field?: string | undefined; jobId?: string | undefined; status?: number; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.field = details.field;
    this.jobId = details.jobId;
    this.status = details.status;
  }
}

export function isJobsError(value: unknown, code?: JobsErrorCode): value is JobsError {
  return value instanceof JobsError && (code === undefined || value.code === code);
}

/**
 * The message of anything thrown, for a job's `message` or a log line. Never throws, whatever it is
 * given: an Error whose `message` is not a string or whose getter throws, a Proxy that throws on every
 * trap, an object whose `toJSON` throws.
 */
export function errorMessage(error: unknown): string {
  try {
    if (typeof error === 'string') return error;
    if (error instanceof Error) {
      const message: unknown = error.message;
      if (typeof message === 'string' && message !== '') return message;
      if (message !== undefined && message !== '') return describe(message);
      const name: unknown = error.name;
      return typeof name === 'string' && name !== '' ? name : 'Error';
    }
    return describe(error);
  } catch {
    return 'An error that cannot be described';
  }
}

function describe(value: unknown): string {
  try {
    const json = JSON.stringify(value);
    if (typeof json === 'string') return json;
  } catch {
    // Cycles, BigInt, a throwing toJSON: fall through to String().
  }
  try {
    return String(value);
  } catch {
    // A null-prototype object has no toString; a Proxy may throw on it.
    return Object.prototype.toString.call(value);
  }
}
