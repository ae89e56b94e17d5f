import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrivateRedis } from '../redis/instances.js';
import { launchChromium } from '../support/browser.js';
import { type ForwardingProxy, startForwardingProxy } from '../support/forwarding-proxy.js';
import { type Exchange, type RoundRobinProxy, startRoundRobinProxy } from '../support/round-robin-proxy.js';
import { waitFor } from '../support/wait.js';
import {
  freePort,
  type Instance,
  isChunkCall,
  latestJob,
  logIn,
  SYNC_SECRET,
  startDedalusStandIn,
  startInstance,
  tempDir,
  tileSelector,
  waitForTileState,
} from './harness.js';

const LEASE_MS = 1000;
const LEASE_MESSAGE = 'The instance running this job stopped before it finished.';
const PUSH_TILE = tileSelector('sync-push', 'peer', 'peer-b');

/** The last `id:` of the stream's complete events: where a client that read all of them resumes from. */
const lastId = (stream: string) =>
  [...stream.slice(0, stream.lastIndexOf('\n\n') + 1).matchAll(/^id: ?(.*)$/gm)].at(-1)?.[1] ?? null;

/** One call of peer-a's peer API as peer-b makes it (lib/sync/peer-client.ts `call`), to one replica. */
async function asPeerB(base: string, method: string, path: string, body?: unknown) {
  const payload = body === undefined ? '' : JSON.stringify(body);
  const time = String(Date.now());
  // New per call: the peer API accepts each nonce once.
  const nonce = randomBytes(16).toString('base64url');
  const key = createHmac('sha256', SYNC_SECRET).update('transport:peer-a|peer-b').digest();
  const mac = createHmac('sha256', key)
    .update(`${method}\n${path}\n${time}\n${nonce}\n${createHash('sha256').update(payload).digest('hex')}`)
    .digest('hex');
  const headers = {
    'content-type': 'application/json',
    'x-sync-peer': 'peer-b',
    'x-sync-time': time,
    'x-sync-nonce': nonce,
    'x-sync-mac': mac,
  };
  const response = await fetch(`${base}${path}`, { method, headers, body: payload || undefined });
  return { status: response.status, json: await response.json() };
}

const isJobStream = (exchange: Exchange) => exchange.url.startsWith('/api/admin/jobs/events');
/**
 * The stream of the sync-control page once its parts have joined the page's one feed: the tiles' filter
 * first, widened to this one when `browser/app.ts` subscribes for the activity log.
 */
const PAGE_STREAM = '/api/admin/jobs/events?category=sync-push&category=sync-pull';

// Two replicas of peer-a (one SQLite file, jobs in Redis under the prefix peer-a) behind a round-robin
// proxy, peer-b reaching peer-a through that proxy, and Chromium on the proxy.
describe('reference app: two replicas of one peer on Redis', () => {
  let redis: PrivateRedis;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let standIn: Awaited<ReturnType<typeof startDedalusStandIn>>;
  let proxy: RoundRobinProxy;
  /** peer-a's replicas reach peer-b through it: a push can be held mid-transfer. */
  let toB: ForwardingProxy;
  let replicas: Instance[];
  let b: Instance;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;

  /** The page's job stream through the proxy (the newest), once its snapshot (or replay) is in. */
  async function openStream(from = 0): Promise<Exchange> {
    let found: Exchange | undefined;
    await waitFor(
      () => {
        found = proxy.exchanges
          .slice(from)
          .findLast((x) => x.url === PAGE_STREAM && x.open && x.stream.includes('event: ready'));
        return found !== undefined;
      },
      'the page to hold a job stream through the proxy',
      10_000,
    );
    return found as Exchange;
  }

  /** A second tab straight on one replica (cookies are per host, not port: same login), pushing. */
  async function pushOn(replica: Instance): Promise<Page> {
    const tab = await chromium.context.newPage();
    await tab.goto(`${replica.url}/admin/sync-control`);
    await tab.getByRole('button', { name: 'Push now' }).click();
    return tab;
  }

  beforeAll(async () => {
    redis = await PrivateRedis.start();
    dir = await tempDir();
    standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
    const [port1, port2, portB] = [await freePort(), await freePort(), await freePort()];
    proxy = await startRoundRobinProxy([port1, port2]);
    toB = await startForwardingProxy({ target: portB });
    const env = { REDIS_URL: redis.url, REDIS_LEASE_MS: String(LEASE_MS) };
    const replica = (port: number) =>
      startInstance({
        name: 'peer-a',
        port,
        dataDir: dir.path,
        peers: { 'peer-b': Number(new URL(toB.url).port) },
        dedalusUrl: standIn.url,
        // Slow steps: a push lasts about 2.5 s, long enough to watch it move from phase to phase.
        paceMs: 500,
        env,
      });
    // Both kept even when one fails to start, so afterAll stops the other.
    const started = await Promise.allSettled([replica(port1), replica(port2)]);
    replicas = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    for (const result of started) if (result.status === 'rejected') throw result.reason;
    b = await startInstance({
      name: 'peer-b',
      port: portB,
      dataDir: dir.path,
      peers: { 'peer-a': Number(new URL(proxy.url).port) },
      dedalusUrl: standIn.url,
      env,
    });
    chromium = await launchChromium();
    page = await chromium.context.newPage();
    await logIn(page, proxy.url);
  });

  afterAll(async () => {
    await chromium?.close();
    await Promise.all([...(replicas ?? []).map((r) => r.stop()), b?.stop()]);
    await proxy?.close();
    await toB?.close();
    await standIn?.close();
    await dir?.remove();
    await redis?.stop();
  });

  it('a tile whose stream is on one replica follows a push run by the other, live to the end', async () => {
    await page.goto(`${proxy.url}/admin/sync-control`);
    const stream = await openStream();
    const runner = replicas[1 - stream.replica] as Instance;
    const button = page.getByRole('button', { name: 'Push now' });

    const tab = await pushOn(runner);
    await waitForTileState(page, PUSH_TILE, 'running');
    expect(await button.isDisabled()).toBe(true);
    await waitForTileState(page, PUSH_TILE, 'success');
    await page
      .locator(PUSH_TILE)
      .getByText('Pushed 8 records to peer-b: 8 new there, signature verified.')
      .filter({ visible: true })
      .first()
      .waitFor();
    await page.getByRole('button', { name: 'Push now', disabled: false }).waitFor();

    // Every phase came live over the one stream the page held on the other replica: it never moved.
    expect(stream.stream).toContain('Sending chunk 2 of 2 (8 records)…');
    expect(stream.open).toBe(true);
    // And it is the page's only one: any other it opened (before its filter widened, or in the page it
    // navigated away from) is closed; on a busy machine the proxy may hear of that close seconds later.
    const openStreams = () => proxy.exchanges.filter((x) => isJobStream(x) && x.open);
    await waitFor(() => openStreams().length === 1, 'one job stream open through the proxy', 15_000);
    expect(openStreams()).toEqual([stream]);
    await tab.close();
  });

  it('serves the chunks of one pull from either replica: the outbox is in the shared SQLite file', async () => {
    const [one, two] = replicas as [Instance, Instance];
    const manifest = await asPeerB(one.url, 'POST', '/sync/api/outbox', {});
    expect(manifest).toMatchObject({ status: 200, json: { count: 8, chunks: 2 } });
    const chunk = await asPeerB(two.url, 'GET', `/sync/api/outbox/${manifest.json.transferId}/chunks/1`);
    expect(chunk.status).toBe(200);
    expect(chunk.json.records).toHaveLength(5);
  });

  it('a replica killed mid-push: the job ends by lease, the page resumes exactly on the other replica', async () => {
    const stream = await openStream();
    const runner = replicas[stream.replica] as Instance;
    const survivor = replicas[1 - stream.replica] as Instance;
    const button = page.getByRole('button', { name: 'Push now' });

    // Held at its first chunk: the push is surely mid-transfer when its replica dies.
    const held = toB.holdNext(isChunkCall(1));
    const tab = await pushOn(runner);
    await held;
    await waitForTileState(page, PUSH_TILE, 'running');
    expect(await button.isDisabled()).toBe(true);
    const pushed = await latestJob(page, proxy.url, 'sync-push');
    const from = proxy.exchanges.length;
    const killedAt = Date.now();
    await runner.kill();

    await waitForTileState(page, PUSH_TILE, 'error');
    await page.locator(PUSH_TILE).getByText(LEASE_MESSAGE).filter({ visible: true }).first().waitFor();
    await page.getByRole('button', { name: 'Push now', disabled: false }).waitFor();
    const job = await latestJob(page, proxy.url, 'sync-push');
    expect(job).toMatchObject({ id: pushed?.id, state: 'error', message: LEASE_MESSAGE });
    expect(Date.parse(String(job?.finishedAt)) - killedAt).toBeLessThan(LEASE_MS + 2000);

    // The proxy moved the page to the survivor, which resumed from the last event the page had seen:
    // a replay (no `resync`, no new snapshot) that carries the job to its end.
    const resumed = await openStream(from);
    expect(resumed.replica).toBe(replicas.indexOf(survivor));
    expect(resumed.lastEventId).not.toBeNull();
    expect(resumed.lastEventId).toBe(lastId(stream.stream));
    expect(resumed.stream).not.toContain('event: resync');
    expect(resumed.stream).toContain(LEASE_MESSAGE);
    await tab.close();
  });
});
