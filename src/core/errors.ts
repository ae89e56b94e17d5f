/**
 * Why a call was refused. `invalid_input` names the field in {@link JobsError.field};
 * `not_found` and `invalid_transition` name the job in {@link JobsError.jobId}.
 */
export type JobsErrorCode =
  | 'invalid_input'
  | 'invalid_options'
  | 'not_found'
  | 'invalid_transition'
  | 'closed'
  | 'locked';

/** The one error type the library throws on purpose. */
export class JobsError extends Error {
  override readonly name = 'JobsError';
  readonly code: JobsErrorCode;
  /** The offending field, as a dotted path (`target.peer`, `progress`), when the input was at fault. */
  readonly field: string | undefined;
  /** The job the call was about, when there was one. */
  readonly jobId: string | undefined;

  constructor(
    code: JobsErrorCode,
    message: string,
    details: { field?: string | undefined; jobId?: string | undefined; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.field = details.field;
    this.jobId = details.jobId;
  }
}

export function isJobsError(value: unknown, code?: JobsErrorCode): value is JobsError {
  return value instanceof JobsError && (code === undefined || value.code === code);
}

/** The message of anything thrown, for a job's `message` or a log line. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/**
 * Reads an optional integer option: `fallback` when absent, otherwise an integer ≥ `min`, or a
 * {@link JobsError} naming the option and who took it (`owner`, e.g. `jsonlStore`).
 */
export function integerOption(owner: string, field: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new JobsError('invalid_options', `${owner}: \`${field}\` must be an integer ≥ ${min}`, { field });
  }
  return value as number;
}
