import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { SyncRecord } from './protocol.js';

/** What a key is for: `bundle` signs the data, `transport` authenticates the peer API calls. */
export type KeyPurpose = 'bundle' | 'transport';

/**
 * The keys one pair of instances shares, derived from the one secret both are configured with, so each
 * pair of peers gets its own: `bundle` signs the data, `transport` authenticates the peer API calls.
 */
export function peerKey(secret: string, a: string, b: string, purpose: KeyPurpose): Buffer {
  const pair = [a, b].sort().join('|');
  return createHmac('sha256', secret).update(`${purpose}:${pair}`).digest();
}

/** The fields that travel, in a fixed order, so both ends hash the same bytes. */
function canonical(records: readonly SyncRecord[]): string {
  return JSON.stringify(
    [...records]
      .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
      .map((r) => [r.id, r.title, r.body, r.origin, r.created_at]),
  );
}

/** The SHA-256 of a bundle's records (hex), whatever order they came in. */
export function bundleDigest(records: readonly SyncRecord[]): string {
  return createHash('sha256').update(canonical(records)).digest('hex');
}

/** A bundle's signature: the pair's bundle key over who sent it to whom, and its digest. */
export function signBundle(key: Buffer, from: string, to: string, digest: string): string {
  return createHmac('sha256', key).update(`${from}\n${to}\n${digest}`).digest('hex');
}

/** What a call's MAC covers: its method, path, time, nonce and the SHA-256 of its body. */
export interface SignedCall {
  method: string;
  path: string;
  time: string;
  nonce: string;
  bodyHash: string;
}

export function transportMac(key: Buffer, { method, path, time, nonce, bodyHash }: SignedCall): string {
  return createHmac('sha256', key).update(`${method}\n${path}\n${time}\n${nonce}\n${bodyHash}`).digest('hex');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Two hex strings compared in constant time; an empty or odd one never matches. */
export function equalHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}
