import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import express from 'express';

/** Records per chunk: small, so even the demo dataset travels in several steps ("chunk 3 of 5"). */
const CHUNK_SIZE = 5;
const PEER_TIMEOUT_MS = 5000;
/** The signature window: a call is accepted while its time is this close to the receiver's clock. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const OUTBOX_TTL_MS = 10 * 60 * 1000;
export const SYNC_CATEGORIES = ['sync-push', 'sync-pull'];

/**
 * The keys one pair of instances shares, derived from the one secret both are configured with, so each
 * pair of peers gets its own: `bundle` signs the data, `transport` authenticates the peer API calls.
 */
export function peerKey(secret, a, b, purpose) {
  const pair = [a, b].sort().join('|');
  return createHmac('sha256', secret).update(`${purpose}:${pair}`).digest();
}

/** The fields that travel, in a fixed order, so both ends hash the same bytes. */
function canonical(records) {
  return JSON.stringify(
    [...records]
      .sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
      .map((r) => [r.id, r.title, r.body, r.origin, r.created_at]),
  );
}

export function bundleDigest(records) {
  return createHash('sha256').update(canonical(records)).digest('hex');
}

export function signBundle(key, from, to, digest) {
  return createHmac('sha256', key).update(`${from}\n${to}\n${digest}`).digest('hex');
}

/** What a call's MAC covers: its method, path, time, nonce and the SHA-256 of its body. */
function transportMac(key, { method, path, time, nonce, bodyHash }) {
  return createHmac('sha256', key).update(`${method}\n${path}\n${time}\n${nonce}\n${bodyHash}`).digest('hex');
}

function equalHex(a, b) {
  const x = Buffer.from(String(a), 'hex');
  const y = Buffer.from(String(b), 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** One record as it may arrive from a peer: anything else is refused, field by field. */
function validRecord(value, where) {
  if (typeof value !== 'object' || value === null) throw new SyncError(400, `${where} is not an object`);
  for (const [field, max] of [
    ['id', 100],
    ['title', 200],
    ['body', 2000],
    ['origin', 100],
    ['created_at', 40],
  ]) {
    if (typeof value[field] !== 'string' || value[field].length === 0 || value[field].length > max) {
      throw new SyncError(400, `${where}.${field} must be a string of 1 to ${max} characters`);
    }
  }
  return {
    id: value.id,
    title: value.title,
    body: value.body,
    origin: value.origin,
    created_at: value.created_at,
  };
}

class SyncError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * The dataset, the peer API another instance calls, and the push / pull work the jobs run.
 *
 * @param {object} options
 * @param {import('better-sqlite3').Database} options.db
 * @param {string} options.name this instance's peer name, e.g. `peer-a`
 * @param {Array<{ name: string, url: string }>} options.peers
 * @param {string} options.secret the shared sync secret the per-peer keys derive from
 * @param {number} options.paceMs a pause per step, so a person can watch the phases of a tiny transfer
 * @param {boolean} options.signByDefault whether outgoing bundles are signed until the setting is changed
 */
export function createSync({ db, name, peers, secret, paceMs, signByDefault, settings }) {
  const statements = {
    records: db.prepare('SELECT id, title, body, origin, created_at FROM records ORDER BY created_at DESC, id'),
    count: db.prepare('SELECT COUNT(*) AS n FROM records'),
    insert: db.prepare(
      'INSERT OR IGNORE INTO records (id, title, body, origin, created_at) VALUES (@id, @title, @body, @origin, @created_at)',
    ),
    inboxGet: db.prepare('SELECT * FROM inbox WHERE transfer_id = ?'),
    inboxCreate: db.prepare(
      "INSERT INTO inbox (transfer_id, from_peer, chunks, records, created_at) VALUES (?, ?, ?, '[]', ?)",
    ),
    inboxAppend: db.prepare('UPDATE inbox SET records = ? WHERE transfer_id = ?'),
    inboxVerified: db.prepare('UPDATE inbox SET verified = ?, signature = ? WHERE transfer_id = ?'),
    inboxDelete: db.prepare('DELETE FROM inbox WHERE transfer_id = ?'),
    inboxSweep: db.prepare('DELETE FROM inbox WHERE created_at < ?'),
    outboxGet: db.prepare('SELECT * FROM outbox WHERE transfer_id = ?'),
    outboxCreate: db.prepare('INSERT INTO outbox (transfer_id, to_peer, chunks, created_at) VALUES (?, ?, ?, ?)'),
    outboxDelete: db.prepare('DELETE FROM outbox WHERE transfer_id = ?'),
    outboxSweep: db.prepare('DELETE FROM outbox WHERE created_at < ?'),
    stage: db.prepare(
      `INSERT INTO staged_bundles (job_id, peer, direction, transfer_id, records, created_at)
       VALUES (?, ?, ?, ?, ?, ?)`,
    ),
    staged: db.prepare('SELECT * FROM staged_bundles WHERE job_id = ?'),
    unstage: db.prepare('DELETE FROM staged_bundles WHERE job_id = ?'),
    nonceSeen: db.prepare('INSERT INTO peer_nonces (peer, nonce, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING'),
    nonceSweep: db.prepare('DELETE FROM peer_nonces WHERE expires_at < ?'),
  };
  const peersByName = new Map(peers.map((peer) => [peer.name, peer]));

  const applyRecords = db.transaction((records) => {
    let added = 0;
    for (const record of records) added += statements.insert.run(record).changes;
    return added;
  });

  const signing = () => {
    const value = settings.get('sync_sign_bundles');
    return value === null ? signByDefault : value === '1';
  };

  const sleep = (ms, signal) =>
    new Promise((resolve, reject) => {
      if (ms <= 0) return resolve();
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });

  /** Calls a peer's API, authenticated with the pair's transport key; explains failures in words. */
  async function callPeer(peer, method, path, body, signal) {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const time = String(Date.now());
    // New for every call, tries of the same step included: the peer refuses one it has seen.
    const nonce = randomBytes(16).toString('base64url');
    const bodyHash = createHash('sha256').update(payload).digest('hex');
    const mac = transportMac(peerKey(secret, name, peer.name, 'transport'), { method, path, time, nonce, bodyHash });
    let response;
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
        body: payload === '' ? undefined : payload,
        signal: AbortSignal.any([signal, AbortSignal.timeout(PEER_TIMEOUT_MS)]),
      });
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const code = error?.cause?.code;
      if (error?.name === 'TimeoutError') {
        throw new Error(`${peer.name} at ${peer.url} did not answer within ${PEER_TIMEOUT_MS / 1000} s`);
      }
      const why = code === 'ECONNREFUSED' ? 'connection refused (is it running?)' : (code ?? error.message);
      throw new Error(`${peer.name} at ${peer.url} is not reachable: ${why}`);
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: reported below with the status.
    }
    if (!response.ok) {
      const reason = json?.error?.message ?? `HTTP ${response.status}`;
      const error = new Error(`${peer.name} refused ${method} ${path}: ${reason}`);
      error.status = response.status;
      throw error;
    }
    return json;
  }

  function chunks(records) {
    const out = [];
    for (let i = 0; i < records.length; i += CHUNK_SIZE) out.push(records.slice(i, i + CHUNK_SIZE));
    return out.length > 0 ? out : [[]];
  }

  const TRANSFER_START = 0.1;
  const TRANSFER_SPAN = 0.7;

  const peerNamed = (peerName) => {
    const peer = peersByName.get(peerName);
    if (!peer) throw new Error(`No peer named ${JSON.stringify(peerName)} is configured (PEERS)`);
    return peer;
  };
  const short = (digest) => `${digest.slice(0, 12)}…`;

  /**
   * Pulls the peer's dataset: the bundle is verified here, against the pair's bundle key. Cancelling
   * stops it between steps (every pause and call takes `ctx.signal`); nothing is applied until the
   * last step, so a cancelled pull leaves no trace here.
   */
  async function pull(ctx) {
    const { signal } = ctx;
    const peer = peerNamed(ctx.input.peer);
    ctx.progress(0.02, { phase: 'connecting', message: `Connecting to ${peer.name} at ${peer.url}…` });
    ctx.log(`Connecting to ${peer.name} at ${peer.url}`);
    await sleep(paceMs, signal);
    const manifest = await callPeer(peer, 'POST', '/sync/api/outbox', {}, signal);
    ctx.log(`${peer.name} offers ${manifest.count} records in ${manifest.chunks} chunks`);
    const records = [];
    for (let n = 1; n <= manifest.chunks; n++) {
      ctx.progress(TRANSFER_START + (TRANSFER_SPAN * (n - 1)) / manifest.chunks, {
        phase: 'transferring',
        message: `Receiving chunk ${n} of ${manifest.chunks} (${manifest.count} records)…`,
      });
      await sleep(paceMs, signal);
      const chunk = await callPeer(
        peer,
        'GET',
        `/sync/api/outbox/${manifest.transferId}/chunks/${n}`,
        undefined,
        signal,
      );
      chunk.records.forEach((record, i) => {
        records.push(validRecord(record, `chunk ${n} record ${i}`));
      });
      ctx.log(`Received chunk ${n} of ${manifest.chunks} (${chunk.records.length} records)`);
    }
    ctx.progress(TRANSFER_START + TRANSFER_SPAN, { phase: 'verifying', message: 'Verifying the bundle…' });
    await sleep(paceMs, signal);
    const digest = bundleDigest(records);
    if (digest !== manifest.digest || records.length !== manifest.count) {
      throw new Error(`The bundle from ${peer.name} arrived incomplete or altered (digest mismatch): nothing applied`);
    }
    ctx.log(`Digest checked: SHA-256 ${short(digest)} matches what ${peer.name} announced`);
    const signed = manifest.signature !== null && manifest.signature !== undefined;
    if (signed) {
      const expected = signBundle(peerKey(secret, name, peer.name, 'bundle'), peer.name, name, digest);
      if (!equalHex(manifest.signature, expected)) {
        throw new Error(
          `The bundle from ${peer.name} has a signature that does not match the peer key: nothing applied`,
        );
      }
      ctx.log(`Signature checked: valid for the ${name}/${peer.name} bundle key`);
    } else {
      ctx.log(`The bundle from ${peer.name} is not signed`, { level: 'warn' });
    }
    if (!signed && !ctx.input.allowUnsigned) {
      statements.stage.run(ctx.jobId, peer.name, 'pull', null, JSON.stringify(records), new Date().toISOString());
      ctx.log(`Held ${records.length} records here until someone approves or rejects them`, { level: 'warn' });
      ctx.update({ phase: 'awaiting-approval' });
      ctx.awaitApproval(
        `The bundle from ${peer.name} (${records.length} records) is not signed. Approve to apply it anyway, or reject it.`,
      );
      return { records: records.length, signed: false };
    }
    ctx.progress(0.95, { phase: 'applying', message: `Applying ${records.length} records…` });
    await sleep(paceMs, signal);
    const added = applyRecords(records);
    ctx.log(`Applied ${records.length} records: ${added} new`);
    const summary = `Pulled ${records.length} records from ${peer.name}: ${added} new`;
    if (signed) ctx.update({ message: `${summary}, signature verified.` });
    else ctx.warn(`${summary}, from an UNSIGNED bundle (allowed by "allow unsigned").`);
    return { records: records.length, added, signed };
  }

  /**
   * Pushes this dataset: the peer verifies the bundle against the same pair key and applies it.
   * Cancelling stops it between steps; the peer drops an unfinished transfer after a day, and applies
   * nothing it was not asked to.
   */
  async function push(ctx) {
    const { signal } = ctx;
    const peer = peerNamed(ctx.input.peer);
    ctx.progress(0.02, { phase: 'connecting', message: `Connecting to ${peer.name} at ${peer.url}…` });
    ctx.log(`Connecting to ${peer.name} at ${peer.url}`);
    await sleep(paceMs, signal);
    const records = statements.records.all();
    const parts = chunks(records);
    const { transferId } = await callPeer(peer, 'POST', '/sync/api/inbox', { chunks: parts.length }, signal);
    ctx.log(`${peer.name} opened a transfer for ${records.length} records in ${parts.length} chunks`);
    for (let n = 1; n <= parts.length; n++) {
      ctx.progress(TRANSFER_START + (TRANSFER_SPAN * (n - 1)) / parts.length, {
        phase: 'transferring',
        message: `Sending chunk ${n} of ${parts.length} (${records.length} records)…`,
      });
      await sleep(paceMs, signal);
      await callPeer(peer, 'PUT', `/sync/api/inbox/${transferId}/chunks/${n}`, { records: parts[n - 1] }, signal);
      ctx.log(`Sent chunk ${n} of ${parts.length} (${parts[n - 1].length} records)`);
    }
    ctx.progress(TRANSFER_START + TRANSFER_SPAN, {
      phase: 'verifying',
      message: `${peer.name} is verifying the bundle…`,
    });
    await sleep(paceMs, signal);
    const digest = bundleDigest(records);
    const signature = signing()
      ? signBundle(peerKey(secret, name, peer.name, 'bundle'), name, peer.name, digest)
      : null;
    if (signature) ctx.log(`Signed the bundle (SHA-256 ${short(digest)}) with the ${name}/${peer.name} bundle key`);
    else ctx.log(`Sent the bundle (SHA-256 ${short(digest)}) UNSIGNED: signing is off here`, { level: 'warn' });
    const verdict = await callPeer(peer, 'POST', `/sync/api/inbox/${transferId}/verify`, { digest, signature }, signal);
    ctx.log(
      verdict.signed
        ? `${peer.name} checked the digest and the signature: both valid`
        : `${peer.name} checked the digest: valid; the bundle carries no signature`,
    );
    if (!verdict.signed && !ctx.input.allowUnsigned) {
      statements.stage.run(ctx.jobId, peer.name, 'push', transferId, '[]', new Date().toISOString());
      ctx.log(`${peer.name} holds the bundle until someone approves or rejects it`, { level: 'warn' });
      ctx.update({ phase: 'awaiting-approval' });
      ctx.awaitApproval(
        `This instance sent an unsigned bundle (${records.length} records); ${peer.name} holds it. Approve to apply it there, or reject it.`,
      );
      return { records: records.length, signed: false };
    }
    ctx.progress(0.95, { phase: 'applying', message: `${peer.name} is applying ${records.length} records…` });
    await sleep(paceMs, signal);
    const result = await callPeer(
      peer,
      'POST',
      `/sync/api/inbox/${transferId}/apply`,
      { acceptUnsigned: !verdict.signed },
      signal,
    );
    ctx.log(`${peer.name} applied ${records.length} records: ${result.added} new there`);
    const summary = `Pushed ${records.length} records to ${peer.name}: ${result.added} new there`;
    if (verdict.signed) ctx.update({ message: `${summary}, signature verified.` });
    else ctx.warn(`${summary}, as an UNSIGNED bundle (allowed by "allow unsigned").`);
    return { records: records.length, added: result.added, signed: verdict.signed };
  }

  /**
   * An approved `pending` job (the definitions' `onApprove`): applies the bundle it holds, here for a
   * pull, on the peer for a push, with the job's signal. The library runs it with the definition's
   * timeout and ends the job by how it ends: a throw ends it `error`.
   */
  async function applyApproved(ctx) {
    const staged = statements.staged.get(ctx.jobId);
    if (!staged) throw new Error('The held bundle is gone (it was already applied or discarded): nothing applied');
    const peer = peerNamed(ctx.input.peer);
    const by = ctx.approval?.by ?? 'an operator';
    // Set when the job was held: the work's result, kept beside the input.
    const { records } = ctx.job.result;
    ctx.progress(0.95, { phase: 'applying', message: `Approved by ${by}: applying the unsigned bundle…` });
    ctx.log(`Approved by ${by}: applying the held unsigned bundle`, { level: 'warn' });
    let added;
    if (staged.direction === 'pull') {
      added = applyRecords(JSON.parse(staged.records));
    } else {
      ({ added } = await callPeer(
        peer,
        'POST',
        `/sync/api/inbox/${staged.transfer_id}/apply`,
        { acceptUnsigned: true },
        ctx.signal,
      ));
    }
    statements.unstage.run(ctx.jobId);
    const where = staged.direction === 'push' ? ` on ${peer.name}` : '';
    ctx.log(`Applied ${records} records: ${added} new${where}`);
    ctx.warn(`Applied an UNSIGNED bundle (${records} records, ${added} new${where}), approved by ${by}.`);
    return { records, added, signed: false };
  }

  /**
   * A rejected job's bundle (the definitions' `onReject`): dropped here, and for a push on the peer.
   * A peer that cannot be reached now throws, which the library reports (`onError`); the peer drops
   * the transfer after a day in any case.
   */
  async function discard(job) {
    const staged = statements.staged.get(job.id);
    statements.unstage.run(job.id);
    if (staged?.direction !== 'push') return;
    await callPeer(
      peerNamed(job.target.peer),
      'DELETE',
      `/sync/api/inbox/${staged.transfer_id}`,
      undefined,
      AbortSignal.timeout(PEER_TIMEOUT_MS),
    );
  }

  /**
   * The idempotency key of a push: the bundle it would send (the records' digest, signed or not) and
   * whether it may go unsigned. The same push twice (a double click, two admins at once) is one job;
   * a push of changed records is a new one, which waits for the running push to that peer.
   */
  function pushKey(allowUnsigned) {
    const digest = bundleDigest(statements.records.all()).slice(0, 16);
    return `bundle-${digest}-${signing() ? 'signed' : 'unsigned'}${allowUnsigned ? '-allow-unsigned' : ''}`;
  }

  /**
   * A genuine call recorded on the way (and its MAC with it) would be accepted again for as long as
   * its time is within the window. So each call's nonce is remembered until then, in SQLite, where
   * every replica of this peer sees it, and a call that brings one back is refused.
   */
  function rememberNonce(from, nonce, time) {
    const now = Date.now();
    statements.nonceSweep.run(now);
    if (statements.nonceSeen.run(from, nonce, time + CLOCK_SKEW_MS).changes === 0) {
      throw new SyncError(
        409,
        `replayed request: this x-sync-nonce was already used within the signature window (${CLOCK_SKEW_MS / 60_000} minutes)`,
      );
    }
  }

  /**
   * The routes another instance calls. No session and no CSRF: every call carries the pair's MAC over
   * its method, path, time, nonce and body, and is accepted once.
   */
  function peerApi() {
    const router = express.Router();
    router.use(
      express.json({
        limit: '256kb',
        verify: (req, _res, buf) => {
          req.rawBody = buf;
        },
      }),
    );
    router.use((req, _res, next) => {
      const from = req.get('x-sync-peer');
      const time = Number(req.get('x-sync-time'));
      const nonce = req.get('x-sync-nonce') ?? '';
      const mac = req.get('x-sync-mac') ?? '';
      if (!peersByName.has(from)) throw new SyncError(401, `Unknown peer ${JSON.stringify(from ?? '')}`);
      if (!Number.isFinite(time) || Math.abs(Date.now() - time) > CLOCK_SKEW_MS) {
        throw new SyncError(401, 'x-sync-time is missing or too far from this clock');
      }
      if (!NONCE.test(nonce)) throw new SyncError(401, 'x-sync-nonce is missing or malformed');
      const bodyHash = createHash('sha256')
        .update(req.rawBody ?? '')
        .digest('hex');
      const expected = transportMac(peerKey(secret, name, from, 'transport'), {
        method: req.method,
        path: req.originalUrl,
        time: req.get('x-sync-time'),
        nonce,
        bodyHash,
      });
      if (!equalHex(mac, expected)) throw new SyncError(401, 'x-sync-mac does not match the peer key');
      rememberNonce(from, nonce, time);
      req.peer = from;
      next();
    });

    // Bundles built for a peer's pull: a snapshot, so the chunks of one transfer stay consistent. In
    // SQLite rather than memory, so another replica of this peer can serve the next chunk.
    router.post('/outbox', (req, res) => {
      statements.outboxSweep.run(new Date(Date.now() - OUTBOX_TTL_MS).toISOString());
      const records = statements.records.all();
      const digest = bundleDigest(records);
      const signature = signing()
        ? signBundle(peerKey(secret, name, req.peer, 'bundle'), name, req.peer, digest)
        : null;
      const transferId = randomUUID();
      const parts = chunks(records);
      statements.outboxCreate.run(transferId, req.peer, JSON.stringify(parts), new Date().toISOString());
      res.json({ transferId, from: name, count: records.length, chunks: parts.length, digest, signature });
    });

    router.get('/outbox/:transferId/chunks/:n', (req, res) => {
      const row = statements.outboxGet.get(req.params.transferId);
      if (!row || row.to_peer !== req.peer) throw new SyncError(404, 'Unknown transfer');
      const parts = JSON.parse(row.chunks);
      const n = Number(req.params.n);
      if (!Number.isSafeInteger(n) || n < 1 || n > parts.length) {
        throw new SyncError(400, `chunk must be 1 to ${parts.length}`);
      }
      if (n === parts.length) statements.outboxDelete.run(row.transfer_id);
      res.json({ records: parts[n - 1] });
    });

    router.post('/inbox', (req, res) => {
      const count = req.body?.chunks;
      if (!Number.isSafeInteger(count) || count < 1 || count > 1000) {
        throw new SyncError(400, 'chunks must be an integer from 1 to 1000');
      }
      statements.inboxSweep.run(new Date(Date.now() - 24 * 60 * 60 * 1000).toISOString());
      const transferId = randomUUID();
      statements.inboxCreate.run(transferId, req.peer, count, new Date().toISOString());
      res.status(201).json({ transferId });
    });

    const inboxOf = (req) => {
      const row = statements.inboxGet.get(req.params.transferId);
      if (!row || row.from_peer !== req.peer) throw new SyncError(404, 'Unknown transfer');
      return row;
    };

    router.put('/inbox/:transferId/chunks/:n', (req, res) => {
      const row = inboxOf(req);
      const n = Number(req.params.n);
      if (!Number.isSafeInteger(n) || n < 1 || n > row.chunks)
        throw new SyncError(400, `chunk must be 1 to ${row.chunks}`);
      if (!Array.isArray(req.body?.records) || req.body.records.length > CHUNK_SIZE) {
        throw new SyncError(400, `records must be an array of at most ${CHUNK_SIZE}`);
      }
      const incoming = req.body.records.map((record, i) => validRecord(record, `records[${i}]`));
      statements.inboxAppend.run(JSON.stringify([...JSON.parse(row.records), ...incoming]), row.transfer_id);
      res.status(204).end();
    });

    router.post('/inbox/:transferId/verify', (req, res) => {
      const row = inboxOf(req);
      const records = JSON.parse(row.records);
      const digest = bundleDigest(records);
      if (req.body?.digest !== digest) {
        statements.inboxDelete.run(row.transfer_id);
        throw new SyncError(422, 'the bundle arrived incomplete or altered (digest mismatch): discarded');
      }
      const signature = req.body?.signature ?? null;
      if (signature !== null) {
        const expected = signBundle(peerKey(secret, name, req.peer, 'bundle'), req.peer, name, digest);
        if (!equalHex(signature, expected)) {
          statements.inboxDelete.run(row.transfer_id);
          throw new SyncError(422, 'the bundle signature does not match the peer key: discarded');
        }
      }
      statements.inboxVerified.run(signature === null ? 'unsigned' : 'signed', signature, row.transfer_id);
      res.json({ signed: signature !== null, count: records.length });
    });

    router.post('/inbox/:transferId/apply', (req, res) => {
      const row = inboxOf(req);
      if (!row.verified) throw new SyncError(409, 'the bundle has not been verified yet');
      if (row.verified === 'unsigned' && req.body?.acceptUnsigned !== true) {
        throw new SyncError(409, 'the bundle is unsigned: applying it needs acceptUnsigned: true');
      }
      const added = applyRecords(JSON.parse(row.records));
      statements.inboxDelete.run(row.transfer_id);
      res.json({ added });
    });

    router.delete('/inbox/:transferId', (req, res) => {
      const row = inboxOf(req);
      statements.inboxDelete.run(row.transfer_id);
      res.status(204).end();
    });

    router.use((error, _req, res, _next) => {
      const status = error.status ?? error.statusCode ?? 500;
      res.status(status).json({ error: { message: status >= 500 ? 'internal error' : error.message } });
    });
    return router;
  }

  return {
    peers,
    peer: (peerName) => peersByName.get(peerName),
    signing,
    setSigning: (on) => settings.set('sync_sign_bundles', on ? '1' : '0'),
    records: () => statements.records.all(),
    count: () => statements.count.get().n,
    addRecord(title, body) {
      const record = { id: randomUUID(), title, body, origin: name, created_at: new Date().toISOString() };
      statements.insert.run(record);
      return record;
    },
    seed(count) {
      if (statements.count.get().n > 0) return;
      const now = Date.now();
      applyRecords(
        Array.from({ length: count }, (_, i) => ({
          id: `${name}-seed-${i + 1}`,
          title: `${name} record ${i + 1}`,
          body: `Seed record ${i + 1}, created on ${name}.`,
          origin: name,
          created_at: new Date(now - (count - i) * 60_000).toISOString(),
        })),
      );
    },
    pull,
    push,
    applyApproved,
    discard,
    pushKey,
    peerApi,
  };
}
