import type { HttpErrorCode } from '../../protocol/errors.js';
import { EVENT_STREAM_TYPE } from '../../protocol/wire.js';
import type { JobStream } from '../stream.js';

/** A request reduced to what the routes read. Adapters build it from their framework's request. */
export interface JobsRequest {
  method: string;
  /**
   * The path below the routes' prefix: `''`, `/events`, `/<id>`, `/<id>/detail` or `/<id>/<action>`;
   * still percent-encoded. `null` when the request lies outside the prefix: it is answered `404`
   * before `authorize` is asked.
   */
  path: string | null;
  query: URLSearchParams;
  header(name: string): string | undefined;
  /**
   * Reads the body. Only `POST …/reject` calls it, after every check has passed. Resolves with the raw
   * bytes or text (an adapter may stop reading past `maxBytes`: the route refuses a longer body), with
   * the value the framework parsed already (Express's `req.body`, Fastify's `request.body`), or with
   * undefined for none. Without it, the request has no body.
   */
  body?(maxBytes: number): Promise<unknown>;
}

/** A route's answer: a JSON body, or a stream for the adapter to connect to its connection. */
export type JobsResponse =
  | { status: number; headers: Record<string, string>; body: string; stream?: undefined }
  | { status: 200; headers: Record<string, string>; body?: undefined; stream: JobStream };

export const JSON_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'private, no-store',
  'x-content-type-options': 'nosniff',
});

/** Headers of a stream. `Connection: keep-alive` is added by the Node bridge on HTTP/1.1 only. */
export const STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': `${EVENT_STREAM_TYPE}; charset=utf-8`,
  'cache-control': 'private, no-store, no-transform',
  'x-accel-buffering': 'no',
  'x-content-type-options': 'nosniff',
});

/** A refusal a route throws; `handle()` answers it as {@link errorResponse}. */
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

/** The routes' error JSON: `{ "error": { "code", "message", "field"? } }`. */
export function errorResponse(status: number, code: HttpErrorCode, message: string, field?: string): JobsResponse {
  const error = field === undefined ? { code, message } : { code, message, field };
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify({ error }) };
}

/** The `500` of an unexpected failure: the client learns that it failed, the server log learns why. */
export function internalErrorResponse(): JobsResponse {
  return errorResponse(500, 'internal_error', 'The job routes failed; the server log says why');
}

/** A bad request naming the parameter or body field at fault. */
export function badRequest(message: string, field: string): HttpError {
  return new HttpError(400, 'bad_request', message, field);
}
