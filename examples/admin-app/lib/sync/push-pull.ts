import type { Job, JobContext } from 'realtime-jobs';
import type { Peer } from '../config.js';
import { bundleDigest, equalHex, peerKey, signBundle } from './keys.js';
import { type PeerClient, PeerError } from './peer-client.js';
import {
  applied,
  CHUNK_SIZE,
  chunk,
  inboxOpened,
  manifest as manifestSchema,
  parseMessage,
  records as recordsSchema,
  type SyncRecord,
  verdict as verdictSchema,
} from './protocol.js';
import type { SyncStore } from './store.js';

/** What a pull is started with: `{ peer, allowUnsigned }` (the pull form's "allow unsigned" box). */
export type PullInput = { peer: string; allowUnsigned: boolean };
/**
 * What a push is started with: `{ peer, allowUnsigned: false }`. "Allow unsigned" is the pull's: what
 * a push sends unsigned, the peer holds for approval. The field stays, so both inputs have one shape
 * (in the job API, the job list, the logs).
 */
export type PushInput = { peer: string; allowUnsigned: false };
/** Either input: what the work both share (applying or discarding a held bundle) is given. */
export type SyncInput = PullInput | PushInput;
/** What a sync job returns: held for approval (no `added` yet), or applied. */
export type SyncResult = { records: number; signed: false } | { records: number; added: number; signed: boolean };
export type SyncContext = JobContext<SyncInput, SyncResult>;

const TRANSFER_START = 0.1;
const TRANSFER_SPAN = 0.7;

const short = (digest: string) => `${digest.slice(0, 12)}…`;

/** The records in chunks of CHUNK_SIZE; an empty dataset travels as one empty chunk. */
export function chunked(records: readonly SyncRecord[]): SyncRecord[][] {
  const out: SyncRecord[][] = [];
  for (let i = 0; i < records.length; i += CHUNK_SIZE) out.push(records.slice(i, i + CHUNK_SIZE));
  return out.length > 0 ? out : [[]];
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ms <= 0) return resolve();
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** A bad answer from the peer during a pull: said as it is, and that nothing was applied. */
function nothingApplied(error: unknown): unknown {
  return error instanceof PeerError && error.badAnswer
    ? new PeerError(`${error.message}: nothing applied`, error.status, true)
    : error;
}

/**
 * The work of the sync jobs (the definitions' work, `onApprove` and `onReject`): push and pull one
 * peer's dataset, apply a held bundle once someone approves it, discard it when someone rejects it.
 */
export function transfers({
  store,
  client,
  name,
  secret,
  paceMs,
  signing,
  peerNamed,
}: {
  store: SyncStore;
  client: PeerClient;
  name: string;
  secret: string;
  paceMs: number;
  signing: () => boolean;
  peerNamed: (peerName: string | undefined) => Peer;
}) {
  /**
   * Pulls the peer's dataset: the bundle is verified here, against the pair's bundle key. Cancelling
   * stops it between steps (every pause and call takes `ctx.signal`); nothing is applied until the
   * last step, so a cancelled pull, or one the peer answered wrongly, leaves no trace here.
   */
  async function pull(ctx: JobContext<PullInput, SyncResult>): Promise<SyncResult> {
    const { signal } = ctx;
    const peer = peerNamed(ctx.input.peer);
    ctx.progress(0.02, { phase: 'connecting', message: `Connecting to ${peer.name} at ${peer.url}…` });
    ctx.log(`Connecting to ${peer.name} at ${peer.url}`);
    await sleep(paceMs, signal);
    let records: SyncRecord[];
    let manifest: Awaited<ReturnType<typeof receive>>['manifest'];
    try {
      ({ records, manifest } = await receive(ctx, peer));
    } catch (error) {
      throw nothingApplied(error);
    }
    ctx.progress(TRANSFER_START + TRANSFER_SPAN, { phase: 'verifying', message: 'Verifying the bundle…' });
    await sleep(paceMs, signal);
    const digest = bundleDigest(records);
    if (digest !== manifest.digest) {
      throw new Error(`The bundle from ${peer.name} arrived incomplete or altered (digest mismatch): nothing applied`);
    }
    ctx.log(`Digest checked: SHA-256 ${short(digest)} matches what ${peer.name} announced`);
    const signed = manifest.signature !== null;
    if (manifest.signature !== null) {
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
      store.stage.run(ctx.jobId, peer.name, 'pull', null, JSON.stringify(records), new Date().toISOString());
      ctx.log(`Held ${records.length} records here until someone approves or rejects them`, { level: 'warn' });
      ctx.update({ phase: 'awaiting-approval' });
      ctx.awaitApproval(
        `The bundle from ${peer.name} (${records.length} records) is not signed. Approve to apply it anyway, or reject it.`,
      );
      return { records: records.length, signed: false };
    }
    ctx.progress(0.95, { phase: 'applying', message: `Applying ${records.length} records…` });
    await sleep(paceMs, signal);
    const added = store.applyRecords(records);
    ctx.log(`Applied ${records.length} records: ${added} new`);
    const summary = `Pulled ${records.length} records from ${peer.name}: ${added} new`;
    if (signed) ctx.update({ message: `${summary}, signature verified.` });
    else ctx.warn(`${summary}, from an UNSIGNED bundle (allowed by "allow unsigned").`);
    return { records: records.length, added, signed };
  }

  /** A pull's transfer: the manifest, then each chunk, every answer checked, and the count held to. */
  async function receive(ctx: SyncContext, peer: Peer) {
    const { signal } = ctx;
    const manifest = await client.call(peer, 'POST', '/sync/api/outbox', {}, manifestSchema, signal);
    const bad = (what: string) =>
      new PeerError(`${peer.name} sent a bad answer to POST /sync/api/outbox: ${what}`, 200, true);
    if (manifest.from !== peer.name) throw bad(`from is ${JSON.stringify(manifest.from)}, not ${peer.name}`);
    ctx.log(`${peer.name} offers ${manifest.count} records in ${manifest.chunks} chunks`);
    const records: SyncRecord[] = [];
    for (let n = 1; n <= manifest.chunks; n++) {
      ctx.progress(TRANSFER_START + (TRANSFER_SPAN * (n - 1)) / manifest.chunks, {
        phase: 'transferring',
        message: `Receiving chunk ${n} of ${manifest.chunks} (${manifest.count} records)…`,
      });
      await sleep(paceMs, signal);
      const path = `/sync/api/outbox/${manifest.transferId}/chunks/${n}`;
      const part = await client.call(peer, 'GET', path, undefined, chunk, signal);
      records.push(...part.records);
      if (records.length > manifest.count) {
        throw new PeerError(
          `${peer.name} sent a bad answer to GET ${path}: chunk ${n} brings ${records.length} records, more than the ${manifest.count} announced`,
          200,
          true,
        );
      }
      ctx.log(`Received chunk ${n} of ${manifest.chunks} (${part.records.length} records)`);
    }
    if (records.length !== manifest.count) {
      throw new PeerError(
        `${peer.name} sent ${records.length} records in ${manifest.chunks} chunks, not the ${manifest.count} announced`,
        200,
        true,
      );
    }
    return { records, manifest };
  }

  /**
   * Pushes this dataset: the peer verifies the bundle against the same pair key and applies it.
   * Cancelling stops it between steps; the peer drops an unfinished transfer after a day, and applies
   * nothing it was not asked to.
   */
  async function push(ctx: JobContext<PushInput, SyncResult>): Promise<SyncResult> {
    const { signal } = ctx;
    const peer = peerNamed(ctx.input.peer);
    ctx.progress(0.02, { phase: 'connecting', message: `Connecting to ${peer.name} at ${peer.url}…` });
    ctx.log(`Connecting to ${peer.name} at ${peer.url}`);
    await sleep(paceMs, signal);
    const records = store.allRecords();
    const parts = chunked(records);
    const { transferId } = await client.call(
      peer,
      'POST',
      '/sync/api/inbox',
      { chunks: parts.length },
      inboxOpened,
      signal,
    );
    ctx.log(`${peer.name} opened a transfer for ${records.length} records in ${parts.length} chunks`);
    for (const [index, part] of parts.entries()) {
      const n = index + 1;
      ctx.progress(TRANSFER_START + (TRANSFER_SPAN * index) / parts.length, {
        phase: 'transferring',
        message: `Sending chunk ${n} of ${parts.length} (${records.length} records)…`,
      });
      await sleep(paceMs, signal);
      await client.call(peer, 'PUT', `/sync/api/inbox/${transferId}/chunks/${n}`, { records: part }, null, signal);
      ctx.log(`Sent chunk ${n} of ${parts.length} (${part.length} records)`);
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
    const verifyPath = `/sync/api/inbox/${transferId}/verify`;
    const verdict = await client.call(peer, 'POST', verifyPath, { digest, signature }, verdictSchema, signal);
    // The peer's word on what it holds must be about this bundle: the count sent, signed as sent.
    if (verdict.count !== records.length || verdict.signed !== (signature !== null)) {
      throw new PeerError(
        `${peer.name} sent a bad answer to POST ${verifyPath}: it verified ${verdict.count} ${verdict.signed ? 'signed' : 'unsigned'} records, this end sent ${records.length} ${signature ? 'signed' : 'unsigned'}`,
        200,
        true,
      );
    }
    ctx.log(
      verdict.signed
        ? `${peer.name} checked the digest and the signature: both valid`
        : `${peer.name} checked the digest: valid; the bundle carries no signature`,
    );
    // Whatever the input says (a push queued by 0.1 could allow unsigned): an unsigned push is held.
    if (!verdict.signed) {
      store.stage.run(ctx.jobId, peer.name, 'push', transferId, '[]', new Date().toISOString());
      ctx.log(`${peer.name} holds the bundle until someone approves or rejects it`, { level: 'warn' });
      ctx.update({ phase: 'awaiting-approval' });
      ctx.awaitApproval(
        `This instance sent an unsigned bundle (${records.length} records); ${peer.name} holds it. Approve to apply it there, or reject it.`,
      );
      return { records: records.length, signed: false };
    }
    ctx.progress(0.95, { phase: 'applying', message: `${peer.name} is applying ${records.length} records…` });
    await sleep(paceMs, signal);
    const { added } = await applyOnPeer(peer, transferId, false, records.length, signal);
    ctx.log(`${peer.name} applied ${records.length} records: ${added} new there`);
    ctx.update({
      message: `Pushed ${records.length} records to ${peer.name}: ${added} new there, signature verified.`,
    });
    return { records: records.length, added, signed: true };
  }

  /** Asks the peer to apply a verified transfer; it cannot have added more records than it holds. */
  async function applyOnPeer(
    peer: Peer,
    transferId: string,
    acceptUnsigned: boolean,
    count: number,
    signal: AbortSignal,
  ) {
    const path = `/sync/api/inbox/${transferId}/apply`;
    const result = await client.call(peer, 'POST', path, { acceptUnsigned }, applied, signal);
    if (result.added > count) {
      throw new PeerError(
        `${peer.name} sent a bad answer to POST ${path}: added is ${result.added}, more than the ${count} records sent`,
        200,
        true,
      );
    }
    return result;
  }

  /**
   * An approved `pending` job (the definitions' `onApprove`): applies the bundle it holds, here for a
   * pull, on the peer for a push, with the job's signal. The library runs it with the definition's
   * timeout and ends the job by how it ends: a throw ends it `error`.
   */
  async function applyApproved(ctx: SyncContext): Promise<SyncResult> {
    const staged = store.staged.get(ctx.jobId);
    if (!staged) throw new Error('The held bundle is gone (it was already applied or discarded): nothing applied');
    const peer = peerNamed(ctx.input.peer);
    const by = ctx.approval?.by ?? 'an operator';
    // Set when the job was held: the work's result, kept beside the input.
    const records = ctx.job.result?.records;
    if (records === undefined) throw new Error('The held job has no result to apply: nothing applied');
    ctx.progress(0.95, { phase: 'applying', message: `Approved by ${by}: applying the unsigned bundle…` });
    ctx.log(`Approved by ${by}: applying the held unsigned bundle`, { level: 'warn' });
    let added: number;
    if (staged.direction === 'pull') {
      // Written by `pull` above from checked records; checked again, as anything read back.
      added = store.applyRecords(parseMessage(recordsSchema, JSON.parse(staged.records), 'the held bundle'));
    } else {
      if (staged.transfer_id === null) throw new Error('The held push names no transfer: nothing applied');
      ({ added } = await applyOnPeer(peer, staged.transfer_id, true, records, ctx.signal));
    }
    store.unstage.run(ctx.jobId);
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
  async function discard(job: Job<SyncInput, SyncResult>): Promise<void> {
    const staged = store.staged.get(job.id);
    store.unstage.run(job.id);
    if (staged?.direction !== 'push' || staged.transfer_id === null) return;
    await client.call(
      peerNamed(job.target.peer),
      'DELETE',
      `/sync/api/inbox/${staged.transfer_id}`,
      undefined,
      null,
      AbortSignal.timeout(client.timeoutMs),
    );
  }

  /**
   * The idempotency key of a push: the bundle it would send (the records' digest, signed or not). The
   * same push twice (a double click, two admins at once) is one job; a push of changed records is a
   * new one, which waits for the running push to that peer.
   */
  function pushKey(): string {
    const digest = bundleDigest(store.allRecords()).slice(0, 16);
    return `bundle-${digest}-${signing() ? 'signed' : 'unsigned'}`;
  }

  return { pull, push, applyApproved, discard, pushKey };
}
