/** An answer other than 200, thrown by a route: the error handler turns it into a page or JSON. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** The form field (or parameter) at fault, when there is one. */
    readonly field?: string,
  ) {
    super(message);
  }
}

/** The JSON `error.code` of each status the app answers; any other is `internal_error`. */
export const ERROR_CODES: Readonly<Record<number, string>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  503: 'unavailable',
};
const HEADINGS: Readonly<Record<number, string>> = { 401: 'Log in first', 403: 'Forbidden', 404: 'Not found' };

/**
 * What the error handler reads of a thrown value: an `HttpError`, an Error from Node, SQLite, a
 * body parser (`status`) or csrf-csrf (`code`), or anything else thrown.
 */
export interface ErrorFields {
  code?: unknown;
  status?: unknown;
  statusCode?: unknown;
  message?: unknown;
  field?: unknown;
}

/** The fields of a thrown value; none for a value that is not an object. */
export function errorFields(error: unknown): ErrorFields {
  // Every field is optional and read as unknown: any object may be looked at this way.
  return typeof error === 'object' && error !== null ? (error as ErrorFields) : {};
}

/** A thrown value's message, for a log line. */
export function messageOf(error: unknown): string {
  const { message } = errorFields(error);
  return typeof message === 'string' ? message : String(error);
}

/** What an error tells the person who met it: a status, a heading and a message (never a stack). */
export function describeError(error: unknown): { status: number; heading: string; message: string } {
  const { code, status: httpStatus, statusCode } = errorFields(error);
  // SQLite (SQLITE_FULL) or the file system (ENOSPC): nothing was written, and nothing else is wrong.
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') {
    return {
      status: 503,
      heading: 'Disk full',
      message:
        'The server’s disk is full, so nothing was saved. Free some space on the server, then send the form again.',
    };
  }
  if (code === 'EBADCSRFTOKEN') {
    return {
      status: 403,
      heading: HEADINGS[403] ?? 'Forbidden',
      message: 'The form expired or did not come from this site (invalid CSRF token). Reload the page and try again.',
    };
  }
  const status = typeof httpStatus === 'number' ? httpStatus : typeof statusCode === 'number' ? statusCode : 500;
  if (status >= 500) return { status, heading: 'Error', message: 'Something went wrong on the server.' };
  return { status, heading: HEADINGS[status] ?? 'Error', message: messageOf(error) };
}
