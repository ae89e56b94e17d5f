import { randomUUID } from 'node:crypto';
import express, { type ErrorRequestHandler, type Request } from 'express';
import type { Peer } from '../config.js';
import { bundleDigest, equalHex, peerKey, sha256Hex, signBundle, transportMac } from './keys.js';
import {
  applyBundle,
  chunk,
  MAX_BODY_BYTES,
  openInbox,
  openOutbox,
  parseMessage,
  records as recordsSchema,
  type SyncRecord,
  transferIdParam,
  verifyBundle,
} from './protocol.js';
import { chunked } from './push-pull.js';
import type { InboxRow, SyncStore } from './store.js';

/** The signature window: a call is accepted while its time is this close to the receiver's clock. */
export const CLOCK_SKEW_MS = 5 * 60 * 1000;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const OUTBOX_TTL_MS = 10 * 60 * 1000;
const INBOX_TTL_MS = 24 * 60 * 60 * 1000;

/** A refusal of the peer API: its status and the reason, sent as `{ error: { message } }`. */
export class SyncError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What the authentication step learned about a call: who sent it, and its raw body. */
interface PeerCall {
  peer: string;
  rawBody: Buffer | undefined;
}
const calls = new WeakMap<Request, PeerCall>();
const callOf = (req: Request): PeerCall => {
  const call = calls.get(req);
  // Set by the authentication step, which every route comes after.
  if (!call?.peer) throw new SyncError(401, 'the call was not authenticated');
  return call;
};

/** The chunk number in a path: 1 to `of`. */
function chunkNumber(raw: string | undefined, of: number): number {
  const n = /^[1-9]\d{0,3}$/.test(raw ?? '') ? Number(raw) : Number.NaN;
  if (!(n >= 1 && n <= of)) throw new SyncError(400, `chunk must be 1 to ${of}`);
  return n;
}

/**
 * The routes another instance calls. No session and no CSRF: every call carries the pair's MAC over
 * its method, path, time, nonce and body, and is accepted once. Every body and every path parameter
 * is checked before it is used (lib/sync/protocol.ts): a wrong one is refused with 400 and the field.
 */
export function peerApi({
  store,
  name,
  secret,
  peers,
  signing,
}: {
  store: SyncStore;
  name: string;
  secret: string;
  peers: ReadonlyMap<string, Peer>;
  signing: () => boolean;
}): express.Router {
  const router = express.Router();
  router.use(
    express.json({
      limit: MAX_BODY_BYTES,
      verify: (req, _res, buf) => {
        calls.set(req as Request, { peer: '', rawBody: buf });
      },
    }),
  );

  /**
   * A genuine call recorded on the way (and its MAC with it) would be accepted again for as long as
   * its time is within the window. So each call's nonce is remembered until then, in SQLite, where
   * every replica of this peer sees it, and a call that brings one back is refused.
   */
  function rememberNonce(from: string, nonce: string, time: number): void {
    store.nonceSweep.run(Date.now());
    if (store.nonceSeen.run(from, nonce, time + CLOCK_SKEW_MS).changes === 0) {
      throw new SyncError(
        409,
        `replayed request: this x-sync-nonce was already used within the signature window (${CLOCK_SKEW_MS / 60_000} minutes)`,
      );
    }
  }

  router.use((req, _res, next) => {
    const from = req.get('x-sync-peer');
    const rawTime = req.get('x-sync-time');
    const time = Number(rawTime);
    const nonce = req.get('x-sync-nonce') ?? '';
    const mac = req.get('x-sync-mac') ?? '';
    if (from === undefined || !peers.has(from)) throw new SyncError(401, `Unknown peer ${JSON.stringify(from ?? '')}`);
    if (!Number.isFinite(time) || Math.abs(Date.now() - time) > CLOCK_SKEW_MS) {
      throw new SyncError(401, 'x-sync-time is missing or too far from this clock');
    }
    if (!NONCE.test(nonce)) throw new SyncError(401, 'x-sync-nonce is missing or malformed');
    const rawBody = calls.get(req)?.rawBody;
    const expected = transportMac(peerKey(secret, name, from, 'transport'), {
      method: req.method,
      path: req.originalUrl,
      time: rawTime ?? '',
      nonce,
      bodyHash: sha256Hex(rawBody ?? ''),
    });
    if (!equalHex(mac, expected)) throw new SyncError(401, 'x-sync-mac does not match the peer key');
    rememberNonce(from, nonce, time);
    calls.set(req, { peer: from, rawBody });
    next();
  });

  // Bundles built for a peer's pull: a snapshot, so the chunks of one transfer stay consistent. In
  // SQLite rather than memory, so another replica of this peer can serve the next chunk.
  router.post('/outbox', (req, res) => {
    const { peer } = callOf(req);
    parseMessage(openOutbox, req.body ?? {}, 'the body');
    store.outboxSweep.run(new Date(Date.now() - OUTBOX_TTL_MS).toISOString());
    const records = store.allRecords();
    const digest = bundleDigest(records);
    const signature = signing() ? signBundle(peerKey(secret, name, peer, 'bundle'), name, peer, digest) : null;
    const transferId = randomUUID();
    const parts = chunked(records);
    store.outboxCreate.run(transferId, peer, JSON.stringify(parts), new Date().toISOString());
    res.json({ transferId, from: name, count: records.length, chunks: parts.length, digest, signature });
  });

  const transferIdOf = (req: Request) => parseMessage(transferIdParam, req.params.transferId, 'transferId');

  router.get('/outbox/:transferId/chunks/:n', (req, res) => {
    const { peer } = callOf(req);
    const row = store.outboxGet.get(transferIdOf(req));
    if (!row || row.to_peer !== peer) throw new SyncError(404, 'Unknown transfer');
    // Written by POST /outbox above, from the dataset's own rows.
    const parts = JSON.parse(row.chunks) as SyncRecord[][];
    const n = chunkNumber(req.params.n, parts.length);
    if (n === parts.length) store.outboxDelete.run(row.transfer_id);
    res.json({ records: parts[n - 1] });
  });

  router.post('/inbox', (req, res) => {
    const { peer } = callOf(req);
    const { chunks } = parseMessage(openInbox, req.body, 'the body');
    store.inboxSweep.run(new Date(Date.now() - INBOX_TTL_MS).toISOString());
    const transferId = randomUUID();
    store.inboxCreate.run(transferId, peer, chunks, new Date().toISOString());
    res.status(201).json({ transferId });
  });

  const inboxOf = (req: Request): InboxRow => {
    const { peer } = callOf(req);
    const row = store.inboxGet.get(transferIdOf(req));
    if (!row || row.from_peer !== peer) throw new SyncError(404, 'Unknown transfer');
    return row;
  };
  /** The records a transfer holds so far: written by the PUT below from checked chunks, checked again. */
  const held = (row: InboxRow) => parseMessage(recordsSchema, JSON.parse(row.records), 'the held records');

  router.put('/inbox/:transferId/chunks/:n', (req, res) => {
    const row = inboxOf(req);
    const n = chunkNumber(req.params.n, row.chunks);
    const incoming = parseMessage(chunk, req.body, 'the body');
    if (row.verified !== null) throw new SyncError(409, 'the bundle was already verified: it takes no more chunks');
    // In order and once each: a chunk sent twice would count its records twice.
    if (n !== row.received + 1) {
      throw new SyncError(409, `chunk ${n} arrived out of order: the next is ${row.received + 1} of ${row.chunks}`);
    }
    store.inboxAppend.run(JSON.stringify([...held(row), ...incoming.records]), n, row.transfer_id);
    res.status(204).end();
  });

  router.post('/inbox/:transferId/verify', (req, res) => {
    const row = inboxOf(req);
    const body = parseMessage(verifyBundle, req.body, 'the body');
    if (row.received !== row.chunks) {
      throw new SyncError(409, `only ${row.received} of the ${row.chunks} chunks arrived: send the rest first`);
    }
    const records = held(row);
    const digest = bundleDigest(records);
    if (body.digest !== digest) {
      store.inboxDelete.run(row.transfer_id);
      throw new SyncError(422, 'the bundle arrived incomplete or altered (digest mismatch): discarded');
    }
    if (body.signature !== null) {
      const { peer } = callOf(req);
      const expected = signBundle(peerKey(secret, name, peer, 'bundle'), peer, name, digest);
      if (!equalHex(body.signature, expected)) {
        store.inboxDelete.run(row.transfer_id);
        throw new SyncError(422, 'the bundle signature does not match the peer key: discarded');
      }
    }
    store.inboxVerified.run(body.signature === null ? 'unsigned' : 'signed', body.signature, row.transfer_id);
    res.json({ signed: body.signature !== null, count: records.length });
  });

  router.post('/inbox/:transferId/apply', (req, res) => {
    const row = inboxOf(req);
    const { acceptUnsigned } = parseMessage(applyBundle, req.body, 'the body');
    if (!row.verified) throw new SyncError(409, 'the bundle has not been verified yet');
    if (row.verified === 'unsigned' && !acceptUnsigned) {
      throw new SyncError(409, 'the bundle is unsigned: applying it needs acceptUnsigned: true');
    }
    const added = store.applyRecords(held(row));
    store.inboxDelete.run(row.transfer_id);
    res.json({ added });
  });

  router.delete('/inbox/:transferId', (req, res) => {
    const row = inboxOf(req);
    store.inboxDelete.run(row.transfer_id);
    res.status(204).end();
  });

  const refuse: ErrorRequestHandler = (error, _req, res, _next) => {
    const failure = error as { status?: unknown; statusCode?: unknown; message?: unknown };
    const status = Number(failure.status ?? failure.statusCode ?? 500) || 500;
    if (status >= 500) console.error(`[${name}] peer API:`, error);
    res.status(status).json({ error: { message: status >= 500 ? 'internal error' : String(failure.message) } });
  };
  router.use(refuse);
  return router;
}
