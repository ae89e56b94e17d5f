import { JobsError, type JobsErrorCode } from '../../protocol/errors.js';

/** The codes a feed reports: a subset of the library's one {@link JobsErrorCode} vocabulary. */
export type JobFeedErrorCode = Extract<
  JobsErrorCode,
  'unauthorized' | 'forbidden' | 'http' | 'network' | 'protocol' | 'callback'
>;

/**
 * A problem the feed ran into: a {@link JobsError} with one of the feed's codes. `unauthorized` and
 * `forbidden` stop the feed; the others are retried. `status` is the HTTP status, when there was one.
 */
export class JobFeedError extends JobsError {
  override readonly name: string = 'JobFeedError';
  declare readonly code: JobFeedErrorCode;

  constructor(code: JobFeedErrorCode, message: string, status?: number) {
    super(code, message, { status });
  }
}

/** Throws the `invalid_input` error of a bad option or filter, naming the field. */
export function invalid(field: string, why: string): never {
  throw new JobsError('invalid_input', `createJobFeed: \`${field}\` ${why}`, { field });
}
