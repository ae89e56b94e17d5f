import { JobsError } from '../../protocol/errors.js';
import { ACTION_PROOF_HEADER, MAX_ACTION_BODY_BYTES } from '../../protocol/wire.js';
import { badRequest, HttpError } from './responses.js';

/**
 * Why a POST lacks the same-origin proof, or null when it has it: `Sec-Fetch-Site: same-origin` (set
 * by the browser, which a page cannot forge) or `X-Realtime-Jobs: 1` (a custom header, which another
 * site can only send after a CORS preflight). A cookie alone proves nothing: a form on any site sends it.
 * `Sec-Fetch-Site: cross-site` is refused even with the header: the browser says for certain that
 * another site's page sent it, and only a CORS policy granting that site could have let the header
 * through, which must not hand it the power to act.
 */
export function missingProof(header: (name: string) => string | undefined): string | null {
  const site = header('sec-fetch-site');
  if (site === 'cross-site') {
    const proof = `${ACTION_PROOF_HEADER.name}: ${ACTION_PROOF_HEADER.value}`;
    return `Actions are refused from another site: the browser says this request came from "cross-site", and \`${proof}\` does not outweigh that`;
  }
  if (header(ACTION_PROOF_HEADER.name) === ACTION_PROOF_HEADER.value) return null;
  if (site === 'same-origin') return null;
  const proof = `Send \`${ACTION_PROOF_HEADER.name}: ${ACTION_PROOF_HEADER.value}\` with actions`;
  return site === undefined
    ? `${proof}: the request carries no same-origin proof`
    : `${proof}: the browser says this request came from ${JSON.stringify(site)}, not the same origin`;
}

/** What a `reject` body may say. */
export interface RejectBody {
  message?: string;
}

/**
 * Reads and checks `reject`'s optional body: nothing, or `application/json` holding
 * `{"message": "…"}` (1 to `messageLength` characters) and nothing else. `value` is what the adapter
 * read: raw bytes or text, a value its framework parsed already, or undefined. Throws a 400 naming
 * the field at fault.
 */
export function parseRejectBody(value: unknown, contentType: string | undefined, messageLength: number): RejectBody {
  const raw = typeof value === 'string' ? new TextEncoder().encode(value) : value;
  if (raw === undefined || (raw instanceof Uint8Array && raw.byteLength === 0)) return {};
  if (!/^application\/json\s*(;|$)/i.test(contentType ?? '')) {
    throw badRequest('The body must be JSON, sent as `Content-Type: application/json`', 'body');
  }
  let body = raw;
  if (raw instanceof Uint8Array) {
    if (raw.byteLength > MAX_ACTION_BODY_BYTES) {
      throw badRequest(`The body must be at most ${MAX_ACTION_BODY_BYTES} bytes`, 'body');
    }
    try {
      body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
    } catch {
      throw badRequest('The body is not valid JSON', 'body');
    }
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('The body must be a JSON object: {"message": "…"}', 'body');
  }
  for (const key of Object.keys(body)) {
    if (key !== 'message') throw badRequest(`\`${key.slice(0, 80)}\` is not a field of this body`, key.slice(0, 80));
  }
  const { message } = body as { message?: unknown };
  if (message === undefined) return {};
  if (typeof message !== 'string' || message.length === 0 || message.length > messageLength) {
    throw badRequest(`\`message\` must be a string of 1 to ${messageLength} characters`, 'message');
  }
  return { message };
}

/** How the registry's refusal of an action answers: 404, 409 for the job's state, 400 for bad input. */
export function actionRefusal(error: unknown): unknown {
  if (!(error instanceof JobsError)) return error;
  if (error.code === 'not_found') return new HttpError(404, 'not_found', 'No such job (it may have expired)');
  if (error.code === 'invalid_transition' || error.code === 'conflict') {
    return new HttpError(409, 'conflict', error.message, error.field);
  }
  if (error.code === 'invalid_input') return new HttpError(400, 'bad_request', error.message, error.field);
  return error;
}
