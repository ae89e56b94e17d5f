import { randomBytes } from 'node:crypto';
import type { z } from 'zod';
import type { Peer } from '../config.js';
import { peerKey, sha256Hex, transportMac } from './keys.js';
import { MAX_BODY_BYTES, ProtocolError, parseMessage } from './protocol.js';

/**
 * A call another peer refused, or answered in a way this end cannot use (`badAnswer`: a wrong field,
 * not JSON, too large); `status` when it answered at all.
 */
export class PeerError extends Error {
  constructor(
    message: string,
    readonly status: number | null = null,
    readonly badAnswer = false,
  ) {
    super(message);
  }
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/**
 * Calls other peers' APIs, each call authenticated with the pair's transport key, and checks each
 * answer against its schema before anyone uses it: a peer that answers a wrong type, a huge count or
 * a record of the wrong shape gets an error naming the field, never a crash further on.
 */
export function peerClient({ name, secret, timeoutMs }: { name: string; secret: string; timeoutMs: number }) {
  /**
   * One call: `answer` is the schema of the JSON it must answer with, or `null` for a call answered
   * with no body (204). Failures are explained in words, the peer's name and the call included.
   */
  async function call<Schema extends z.ZodType>(
    peer: Peer,
    method: Method,
    path: string,
    body: unknown,
    answer: Schema,
    signal: AbortSignal,
  ): Promise<z.output<Schema>>;
  async function call(
    peer: Peer,
    method: Method,
    path: string,
    body: unknown,
    answer: null,
    signal: AbortSignal,
  ): Promise<void>;
  async function call(
    peer: Peer,
    method: Method,
    path: string,
    body: unknown,
    answer: z.ZodType | null,
    signal: AbortSignal,
  ): Promise<unknown> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const time = String(Date.now());
    // New for every call, tries of the same step included: the peer refuses one it has seen.
    const nonce = randomBytes(16).toString('base64url');
    const bodyHash = sha256Hex(payload);
    const mac = transportMac(peerKey(secret, name, peer.name, 'transport'), { method, path, time, nonce, bodyHash });
    let response: Response;
    try {
      response = await fetch(new URL(path, peer.url), {
        method,
        headers: {
          'content-type': 'application/json',
          'x-sync-peer': name,
          'x-sync-time': time,
          'x-sync-nonce': nonce,
          'x-sync-mac': mac,
        },
        body: payload === '' ? null : payload,
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw unreachable(peer, error, timeoutMs);
    }
    let text: string;
    try {
      text = await readCapped(response, MAX_BODY_BYTES);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      if (error instanceof PeerError) {
        throw new PeerError(
          `${peer.name} sent a bad answer to ${method} ${path}: ${error.message}`,
          response.status,
          true,
        );
      }
      throw unreachable(peer, error, timeoutMs);
    }
    let json: unknown = null;
    let isJson = false;
    try {
      json = text ? JSON.parse(text) : null;
      isJson = text !== '';
    } catch {
      // Not JSON: reported below with the status.
    }
    if (!response.ok) {
      const said = (json as { error?: { message?: unknown } } | null)?.error?.message;
      const reason = typeof said === 'string' ? said.slice(0, 500) : `HTTP ${response.status}`;
      throw new PeerError(`${peer.name} refused ${method} ${path}: ${reason}`, response.status);
    }
    if (answer === null) return undefined;
    if (!isJson) {
      throw new PeerError(`${peer.name} sent a bad answer to ${method} ${path}: it is not JSON`, response.status, true);
    }
    try {
      return parseMessage(answer, json, 'the answer');
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      throw new PeerError(
        `${peer.name} sent a bad answer to ${method} ${path}: ${error.message}`,
        response.status,
        true,
      );
    }
  }
  return { call, timeoutMs };
}
export type PeerClient = ReturnType<typeof peerClient>;

function unreachable(peer: Peer, error: unknown, timeoutMs: number): PeerError {
  const failure = error as { name?: unknown; message?: unknown; cause?: { code?: unknown } } | null;
  if (failure?.name === 'TimeoutError') {
    return new PeerError(`${peer.name} at ${peer.url} did not answer within ${timeoutMs / 1000} s`);
  }
  const code = failure?.cause?.code;
  const why =
    code === 'ECONNREFUSED'
      ? 'connection refused (is it running?)'
      : typeof code === 'string'
        ? code
        : String(failure?.message ?? error);
  return new PeerError(`${peer.name} at ${peer.url} is not reachable: ${why}`);
}

/** The body as text, refused once it grows past `limit` bytes (a peer cannot make this end hold more). */
async function readCapped(response: Response, limit: number): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel();
    throw new PeerError(`it has ${declared} bytes, more than the ${limit} this end reads`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new PeerError(`it has more than the ${limit} bytes this end reads`);
    }
    parts.push(value);
  }
  return Buffer.concat(parts).toString('utf8');
}
