import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormClient } from '../support/form-client.js';
import { type ForwardingProxy, startForwardingProxy } from '../support/forwarding-proxy.js';
import { waitFor } from '../support/wait.js';
import { ADMIN_PASSWORD, freePort, type Instance, startDedalusStandIn, startInstance, tempDir } from './harness.js';

// The peer API authenticates each call with the pair's key; a call recorded on the way and sent
// again is refused within the signature window too.
describe('reference app: the peer API refuses replays', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let standIn: Awaited<ReturnType<typeof startDedalusStandIn>>;
  let a: Instance;
  let b: Instance;
  let wire: ForwardingProxy;
  let admin: FormClient;

  beforeAll(async () => {
    dir = await tempDir();
    standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
    const [portA, portB] = [await freePort(), await freePort()];
    b = await startInstance({
      name: 'peer-b',
      port: portB,
      dataDir: dir.path,
      peers: { 'peer-a': portA },
      dedalusUrl: standIn.url,
    });
    // peer-a reaches peer-b through a proxy that records every call: someone on the wire.
    wire = await startForwardingProxy({ target: portB });
    a = await startInstance({
      name: 'peer-a',
      port: portA,
      dataDir: dir.path,
      peers: { 'peer-b': Number(new URL(wire.url).port) },
      dedalusUrl: standIn.url,
    });
    admin = new FormClient(a.url);
    expect((await admin.logIn('admin', ADMIN_PASSWORD)).status).toBe(303);
  });

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await wire?.close();
    await standIn?.close();
    await dir?.remove();
  });

  /** Pushes peer-a's records to peer-b through the app and waits for the job to succeed. */
  async function push() {
    await admin.get('/admin/sync-control');
    const started = await admin.post('/admin/sync-control/peer-b/push', {}, { accept: 'application/json' });
    expect(started.status).toBe(202);
    const { job } = JSON.parse(started.body) as { job: { id: string } };
    await waitFor(
      async () => {
        const detail = JSON.parse((await admin.get(`/api/admin/jobs/${job.id}/detail`)).body) as {
          job: { state: string };
        };
        return detail.job.state === 'success';
      },
      'the push to succeed',
      15_000,
    );
  }

  /** Sends a recorded call to peer-b again, byte for byte. */
  async function replay(call: (typeof wire.requests)[number]) {
    const response = await fetch(`${b.url}${call.url}`, {
      method: call.method,
      // What the app reads: the body's type and the signature headers.
      headers: Object.fromEntries(
        Object.entries(call.headers).filter(([name]) => name === 'content-type' || name.startsWith('x-sync-')),
      ),
      body: call.method === 'GET' ? undefined : new Uint8Array(call.body),
    });
    return { status: response.status, body: (await response.json()) as { error?: { message: string } } };
  }

  it('refuses every recorded signed call sent again, with 409 and why', async () => {
    await push();
    const calls = wire.requests.filter((call) => call.url.startsWith('/sync/api/'));
    expect(calls.map((call) => `${call.method} ${call.url.replace(/[0-9a-f-]{36}/, '{id}')}`)).toEqual([
      'POST /sync/api/inbox',
      'PUT /sync/api/inbox/{id}/chunks/1',
      'PUT /sync/api/inbox/{id}/chunks/2',
      'POST /sync/api/inbox/{id}/verify',
      'POST /sync/api/inbox/{id}/apply',
    ]);
    for (const call of calls) {
      expect(call.status, call.url).toBeLessThan(300);
      const again = await replay(call);
      expect({ call: `${call.method} ${call.url}`, status: again.status }).toEqual({
        call: `${call.method} ${call.url}`,
        status: 409,
      });
      expect(again.body.error?.message).toMatch(/^replayed request: this x-sync-nonce was already used/);
    }
    // The peers themselves carry on: each call of theirs is new.
    await push();
  });

  it('refuses a call that carries no nonce, or one the MAC does not cover', async () => {
    const [open] = wire.requests.filter((call) => call.method === 'POST' && call.url === '/sync/api/inbox');
    if (!open) throw new Error('no recorded POST /sync/api/inbox');
    const { 'x-sync-nonce': _nonce, ...withoutNonce } = open.headers;
    expect(await replay({ ...open, headers: withoutNonce })).toMatchObject({
      status: 401,
      body: { error: { message: 'x-sync-nonce is missing or malformed' } },
    });
    const swapped = { ...open.headers, 'x-sync-nonce': 'a-fresh-nonce-of-the-attacker-000' };
    expect(await replay({ ...open, headers: swapped })).toMatchObject({
      status: 401,
      body: { error: { message: 'x-sync-mac does not match the peer key' } },
    });
  });
});
