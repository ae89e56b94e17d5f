import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleDigest, peerKey, sha256Hex, signBundle, transportMac } from '../../examples/admin-app/lib/sync/keys.js';
import { FormClient } from '../support/form-client.js';
import { waitFor } from '../support/wait.js';
import {
  ADMIN_PASSWORD,
  freePort,
  type Instance,
  SYNC_SECRET,
  startDedalusStandIn,
  startInstance,
  tempDir,
} from './harness.js';

// A peer is authenticated, not trusted: whatever it sends (a call's body on the way in, an answer on
// the way out) is checked field by field. A wrong one is refused naming the field, and nothing of
// it is applied.

interface Row {
  id: string;
  title: string;
  body: string;
  origin: string;
  created_at: string;
}

/** Fresh, well-formed records (ids nobody has), as a peer would send them. */
function freshRecords(count: number, origin = 'peer-a'): Row[] {
  return Array.from({ length: count }, (_, i) => ({
    id: `hostile-${randomUUID()}`,
    title: `Record ${i + 1}`,
    body: 'Sent by a test',
    origin,
    created_at: new Date(Date.now() - i * 1000).toISOString(),
  }));
}

/** The ids in an instance's dataset, read from its SQLite file. */
function idsIn(instance: Instance): Set<string> {
  const db = new Database(join(instance.dataDir, 'app.db'), { readonly: true, fileMustExist: true });
  try {
    return new Set(
      db
        .prepare<[], { id: string }>('SELECT id FROM records')
        .all()
        .map((row) => row.id),
    );
  } finally {
    db.close();
  }
}

describe('reference app: the peer API checks every field a peer sends', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let standIn: Awaited<ReturnType<typeof startDedalusStandIn>>;
  let b: Instance;
  let before: Set<string>;

  beforeAll(async () => {
    dir = await tempDir();
    standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
    b = await startInstance({
      name: 'peer-b',
      port: await freePort(),
      dataDir: dir.path,
      peers: { 'peer-a': await freePort() },
      dedalusUrl: standIn.url,
    });
    before = idsIn(b);
  });

  afterAll(async () => {
    await b?.stop();
    await standIn?.close();
    await dir?.remove();
  });

  /** One call to peer-b as peer-a, signed with the pair's transport key, as the app signs it. */
  async function call(method: string, path: string, body?: unknown, rawBody?: string) {
    const payload = rawBody ?? (body === undefined ? '' : JSON.stringify(body));
    const time = String(Date.now());
    const nonce = randomBytes(16).toString('base64url');
    const mac = transportMac(peerKey(SYNC_SECRET, 'peer-a', 'peer-b', 'transport'), {
      method,
      path,
      time,
      nonce,
      bodyHash: sha256Hex(payload),
    });
    const response = await fetch(`${b.url}${path}`, {
      method,
      headers: {
        'content-type': 'application/json',
        'x-sync-peer': 'peer-a',
        'x-sync-time': time,
        'x-sync-nonce': nonce,
        'x-sync-mac': mac,
      },
      body: payload === '' ? null : payload,
    });
    const text = await response.text();
    const json = text ? (JSON.parse(text) as { error?: { message: string } }) : null;
    return { status: response.status, message: json?.error?.message ?? null, json };
  }

  async function openTransfer(chunks: number): Promise<string> {
    const opened = await call('POST', '/sync/api/inbox', { chunks });
    expect(opened.status).toBe(201);
    return (opened.json as unknown as { transferId: string }).transferId;
  }

  it('refuses a transfer of a wrong or huge chunk count, or none', async () => {
    const cases: Array<[unknown, string]> = [
      [{ chunks: '3' }, 'chunks must be an integer from 1 to 1000'],
      [{ chunks: 2.5 }, 'chunks must be an integer from 1 to 1000'],
      [{ chunks: 1e9 }, 'chunks must be an integer from 1 to 1000'],
      [{ chunks: 0 }, 'chunks must be an integer from 1 to 1000'],
      [{}, 'chunks is missing'],
      [[3], 'the body must be an object'],
      [undefined, 'chunks is missing'],
    ];
    for (const [body, message] of cases) {
      expect({ body, ...(await call('POST', '/sync/api/inbox', body)) }).toMatchObject({ body, status: 400, message });
    }
  });

  it('refuses chunks of the wrong shape, naming the record and the field', async () => {
    const transferId = await openTransfer(2);
    const path = `/sync/api/inbox/${transferId}/chunks/1`;
    const [good] = freshRecords(1);
    const { title: _title, ...noTitle } = good!;
    const cases: Array<[unknown, string]> = [
      [{ records: 'all of them' }, 'records must be an array'],
      [{}, 'records is missing'],
      [{ records: [good, noTitle] }, 'records[1].title is missing'],
      [{ records: [{ ...good, title: 42 }] }, 'records[0].title must be a string of 1 to 200 characters'],
      [{ records: [{ ...good, title: '' }] }, 'records[0].title must be a string of 1 to 200 characters'],
      [{ records: [{ ...good, body: 'x'.repeat(2001) }] }, 'records[0].body must be a string of 1 to 2000 characters'],
      [{ records: [{ ...good, id: null }] }, 'records[0].id must be a string of 1 to 100 characters'],
      [
        { records: [{ ...good, created_at: 'yesterday' }] },
        'records[0].created_at must be an ISO 8601 UTC time (2026-01-31T12:00:00.000Z)',
      ],
      [{ records: ['a record'] }, 'records[0] must be an object'],
      [{ records: freshRecords(6) }, 'records must hold at most 5 records'],
    ];
    for (const [body, message] of cases) {
      expect({ body, ...(await call('PUT', path, body)) }).toMatchObject({ body, status: 400, message });
    }
    expect(await call('PUT', `/sync/api/inbox/${transferId}/chunks/3`, { records: [good] })).toMatchObject({
      status: 400,
      message: 'chunk must be 1 to 2',
    });
    expect(await call('PUT', `/sync/api/inbox/${transferId}/chunks/1e0`, { records: [good] })).toMatchObject({
      status: 400,
      message: 'chunk must be 1 to 2',
    });
    expect(await call('PUT', '/sync/api/inbox/not-a-transfer/chunks/1', { records: [good] })).toMatchObject({
      status: 400,
      message: 'transferId must be a UUID',
    });
    expect(await call('PUT', `/sync/api/inbox/${randomUUID()}/chunks/1`, { records: [good] })).toMatchObject({
      status: 404,
      message: 'Unknown transfer',
    });
  });

  it('takes chunks in order and once each, verifies only a complete bundle, and checks verify and apply', async () => {
    const records = freshRecords(7);
    const transferId = await openTransfer(2);
    const chunk = (n: number) => `/sync/api/inbox/${transferId}/chunks/${n}`;
    expect(await call('PUT', chunk(2), { records: records.slice(5) })).toMatchObject({
      status: 409,
      message: 'chunk 2 arrived out of order: the next is 1 of 2',
    });
    expect((await call('PUT', chunk(1), { records: records.slice(0, 5) })).status).toBe(204);
    expect(await call('PUT', chunk(1), { records: records.slice(0, 5) })).toMatchObject({
      status: 409,
      message: 'chunk 1 arrived out of order: the next is 2 of 2',
    });
    const digest = bundleDigest(records);
    const signature = signBundle(peerKey(SYNC_SECRET, 'peer-a', 'peer-b', 'bundle'), 'peer-a', 'peer-b', digest);
    const verify = `/sync/api/inbox/${transferId}/verify`;
    expect(await call('POST', verify, { digest, signature })).toMatchObject({
      status: 409,
      message: 'only 1 of the 2 chunks arrived: send the rest first',
    });
    expect((await call('PUT', chunk(2), { records: records.slice(5) })).status).toBe(204);

    for (const [body, message] of [
      [{ digest: 'abc', signature }, 'digest must be 64 hex digits'],
      [{ digest }, 'signature is missing'],
      [{ digest, signature: 42 }, 'signature must be 64 hex digits'],
      [{ signature }, 'digest is missing'],
    ] as const) {
      expect({ body, ...(await call('POST', verify, body)) }).toMatchObject({ body, status: 400, message });
    }
    const apply = `/sync/api/inbox/${transferId}/apply`;
    expect(await call('POST', apply, { acceptUnsigned: false })).toMatchObject({
      status: 409,
      message: 'the bundle has not been verified yet',
    });
    // Nothing of it is in the dataset until it is verified and applied.
    expect([...idsIn(b)].filter((id) => !before.has(id))).toEqual([]);

    expect(await call('POST', verify, { digest, signature })).toMatchObject({
      status: 200,
      json: { signed: true, count: 7 },
    });
    expect(await call('PUT', chunk(2), { records: records.slice(5) })).toMatchObject({
      status: 409,
      message: 'the bundle was already verified: it takes no more chunks',
    });
    expect(await call('POST', apply, { acceptUnsigned: 'yes' })).toMatchObject({
      status: 400,
      message: 'acceptUnsigned must be true or false',
    });
    expect(await call('POST', apply, {})).toMatchObject({ status: 400, message: 'acceptUnsigned is missing' });
    // A well-formed transfer still goes through: the refusals above were about their fields.
    expect(await call('POST', apply, { acceptUnsigned: false })).toMatchObject({ status: 200, json: { added: 7 } });
    expect([...idsIn(b)].filter((id) => !before.has(id)).sort()).toEqual(records.map((r) => r.id).sort());
  });

  it('refuses a body over 256 KB and one that is not JSON, before anything else', async () => {
    const huge = await call(
      'POST',
      '/sync/api/inbox',
      undefined,
      JSON.stringify({ chunks: 1, pad: 'x'.repeat(300_000) }),
    );
    expect(huge.status).toBe(413);
    const broken = await call('POST', '/sync/api/inbox', undefined, '{"chunks": 1');
    expect(broken.status).toBe(400);
  });
});

/**
 * What a fake peer answers (a string is sent as it is): to a pull, the manifest and each chunk by
 * number; to a push, the opened transfer, the verdict and the apply, given how many records came.
 */
interface Script {
  manifest?(transferId: string): unknown;
  chunk?(n: number): unknown;
  inbox?(): unknown;
  verdict?(received: number): unknown;
  applied?(received: number): unknown;
  /** Sends a Content-Length (else the answer is chunked, its size unknown until it ends). */
  declareLength?: boolean;
}

describe('reference app: a pull or push checks every answer of the peer, and a pull applies nothing of a bad one', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let standIn: Awaited<ReturnType<typeof startDedalusStandIn>>;
  let a: Instance;
  let admin: FormClient;
  const fakes: Server[] = [];
  const records = freshRecords(8, 'peer-x');
  const digest = bundleDigest(records);
  const good = (transferId: string, name: string) => ({
    transferId,
    from: name,
    count: 8,
    chunks: 2,
    digest,
    signature: null,
  });
  const parts = [records.slice(0, 5), records.slice(5)];
  // One fake peer per case, each a name in peer-a's PEERS: the pulls run side by side.
  const scripts: Record<string, { script: Script; message: string; push?: true }> = {
    'push-bad-id': {
      script: { inbox: () => ({ transferId: '/admin/records?all' }) },
      message: 'push-bad-id sent a bad answer to POST /sync/api/inbox: transferId must be a UUID',
      push: true,
    },
    'push-bad-verdict': {
      script: { verdict: () => ({ signed: true, count: 99 }) },
      message:
        'push-bad-verdict sent a bad answer to POST /sync/api/inbox/{id}/verify: it verified 99 signed records, this end sent 8 signed',
      push: true,
    },
    'push-bad-apply': {
      script: { applied: () => ({ added: 1e6 }) },
      message:
        'push-bad-apply sent a bad answer to POST /sync/api/inbox/{id}/apply: added must be an integer from 0 to 5000',
      push: true,
    },
    'push-added-more': {
      script: { applied: (received) => ({ added: received + 1 }) },
      message:
        'push-added-more sent a bad answer to POST /sync/api/inbox/{id}/apply: added is 9, more than the 8 records sent',
      push: true,
    },
    'bad-count-type': {
      script: { manifest: (id) => ({ ...good(id, 'bad-count-type'), count: '8' }) },
      message: 'answer to POST /sync/api/outbox: count must be an integer from 0 to 5000',
    },
    'huge-chunks': {
      script: { manifest: (id) => ({ ...good(id, 'huge-chunks'), chunks: 1e9 }) },
      message: 'answer to POST /sync/api/outbox: chunks must be an integer from 1 to 1000',
    },
    'huge-count': {
      script: { manifest: (id) => ({ ...good(id, 'huge-count'), count: 2 ** 53 }) },
      message: 'answer to POST /sync/api/outbox: count must be an integer from 0 to 5000',
    },
    'no-digest': {
      script: { manifest: (id) => ({ ...good(id, 'no-digest'), digest: undefined }) },
      message: 'answer to POST /sync/api/outbox: digest is missing',
    },
    'chunk-mismatch': {
      script: { manifest: (id) => ({ ...good(id, 'chunk-mismatch'), chunks: 5 }) },
      message: 'answer to POST /sync/api/outbox: chunks must be 2 for 8 records in chunks of 5',
    },
    'not-from-it': {
      script: { manifest: (id) => good(id, 'someone-else') },
      message: 'answer to POST /sync/api/outbox: from is "someone-else", not not-from-it',
    },
    'bad-record': {
      script: {
        manifest: (id) => good(id, 'bad-record'),
        chunk: (n) => ({ records: n === 2 ? [parts[1]![0], { ...parts[1]![1], title: 42 }] : parts[0] }),
      },
      message: '/chunks/2: records[1].title must be a string of 1 to 200 characters',
    },
    'no-records': {
      script: { manifest: (id) => good(id, 'no-records'), chunk: () => ({ items: parts[0] }) },
      message: '/chunks/1: records is missing',
    },
    'too-many': {
      script: { manifest: (id) => good(id, 'too-many'), chunk: () => ({ records: parts[0] }) },
      message: '/chunks/2: chunk 2 brings 10 records, more than the 8 announced',
    },
    'too-few': {
      script: {
        manifest: (id) => good(id, 'too-few'),
        chunk: (n) => ({ records: n === 1 ? parts[0] : parts[1]!.slice(0, 1) }),
      },
      message: 'too-few sent 6 records in 2 chunks, not the 8 announced',
    },
    'not-json': {
      script: { manifest: (id) => good(id, 'not-json'), chunk: () => '<html>Welcome</html>' },
      message: '/chunks/1: it is not JSON',
    },
    'huge-answer': {
      script: {
        manifest: (id) => good(id, 'huge-answer'),
        chunk: () => JSON.stringify({ records: 'x'.repeat(300_000) }),
      },
      message: '/chunks/1: it has more than the 262144 bytes this end reads',
    },
    'huge-declared': {
      script: {
        manifest: (id) => good(id, 'huge-declared'),
        chunk: () => JSON.stringify({ records: 'x'.repeat(300_000) }),
        declareLength: true,
      },
      message: '/chunks/1: it has 300014 bytes, more than the 262144 this end reads',
    },
  };

  /** A peer that answers peer-a's pull calls from `script`, never checking who asks. */
  async function fakePeer(script: Script): Promise<number> {
    const transferId = randomUUID();
    let received = 0;
    const server = createServer(async (req, res) => {
      const send = (body: unknown) => {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        const length = script.declareLength ? { 'content-length': String(Buffer.byteLength(text)) } : {};
        res.writeHead(200, { 'content-type': 'application/json', ...length }).end(text);
      };
      const parts: Buffer[] = [];
      for await (const part of req) parts.push(part as Buffer);
      const url = req.url ?? '';
      if (req.method === 'POST' && url === '/sync/api/outbox' && script.manifest) {
        return send(script.manifest(transferId));
      }
      const n = /^\/sync\/api\/outbox\/[^/]+\/chunks\/(\d+)$/.exec(url)?.[1];
      if (req.method === 'GET' && n && script.chunk) return send(script.chunk(Number(n)));
      if (req.method === 'POST' && url === '/sync/api/inbox') {
        received = 0; // a new attempt, a new transfer
        return send(script.inbox?.() ?? { transferId });
      }
      if (req.method === 'PUT' && url.startsWith(`/sync/api/inbox/${transferId}/chunks/`)) {
        received += (JSON.parse(Buffer.concat(parts).toString()) as { records: unknown[] }).records.length;
        return res.writeHead(204).end();
      }
      if (url === `/sync/api/inbox/${transferId}/verify`) {
        return send(script.verdict?.(received) ?? { signed: true, count: received });
      }
      if (url === `/sync/api/inbox/${transferId}/apply`) return send(script.applied?.(received) ?? { added: received });
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    fakes.push(server);
    return (server.address() as AddressInfo).port;
  }

  beforeAll(async () => {
    dir = await tempDir();
    standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
    const peers: Record<string, number> = {};
    for (const [name, { script }] of Object.entries(scripts)) peers[name] = await fakePeer(script);
    a = await startInstance({
      name: 'peer-a',
      port: await freePort(),
      dataDir: dir.path,
      peers,
      dedalusUrl: standIn.url,
      paceMs: 0,
    });
    admin = new FormClient(a.url);
    expect((await admin.logIn('admin', ADMIN_PASSWORD)).status).toBe(303);
  });

  afterAll(async () => {
    await a?.stop();
    for (const server of fakes) server.close();
    await standIn?.close();
    await dir?.remove();
  });

  it('ends each pull (and push) as an error naming the field, and applies nothing', async () => {
    const before = idsIn(a);
    await admin.get('/admin/sync-control');
    const jobs: Record<string, string> = {};
    for (const [peer, { push }] of Object.entries(scripts)) {
      // Allowed unsigned: the fakes sign nothing, so only the checks of their answers can stop a pull.
      const started = await admin.post(
        `/admin/sync-control/${peer}/${push ? 'push' : 'pull'}`,
        { allow_unsigned: 'on' },
        { accept: 'application/json' },
      );
      expect(started.status, peer).toBe(202);
      jobs[peer] = (JSON.parse(started.body) as { job: { id: string } }).job.id;
    }
    const ended: Record<string, { state: string; message: string | null }> = {};
    await waitFor(
      async () => {
        for (const [peer, id] of Object.entries(jobs)) {
          if (ended[peer]) continue;
          const { job } = JSON.parse((await admin.get(`/api/admin/jobs/${id}/detail`)).body) as {
            job: { state: string; message: string | null };
          };
          if (['success', 'warning', 'error', 'cancelled'].includes(job.state)) ended[peer] = job;
        }
        return Object.keys(ended).length === Object.keys(jobs).length;
      },
      'every pull to end',
      45_000,
    );
    for (const [peer, { message, push }] of Object.entries(scripts)) {
      const job = ended[peer]!;
      expect({ peer, state: job.state }).toEqual({ peer, state: 'error' });
      if (push) {
        expect(job.message?.replace(/[0-9a-f-]{36}/, '{id}'), peer).toBe(message);
        continue;
      }
      expect(job.message, peer).toContain(message);
      expect(job.message, peer).toMatch(
        peer === 'too-few'
          ? /^too-few sent .*: nothing applied$/
          : new RegExp(`^${peer} sent a bad answer to .*: nothing applied$`),
      );
    }
    expect([...idsIn(a)].filter((id) => !before.has(id))).toEqual([]);
  });
});
