import type { HttpErrorCode } from '../../protocol/errors.js';

/** A refusal the routes answer as it is, in the error JSON: a status, a code, a message, maybe a field. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: HttpErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** A bad request naming the parameter or body field at fault. */
export function badRequest(message: string, field: string): HttpError {
  return new HttpError(400, 'bad_request', message, field);
}
