import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ForwardingProxy } from '../support/forwarding-proxy.js';
import {
  type Instance,
  isChunkCall,
  latestJob,
  logLines,
  noScriptPage,
  type PeerPair,
  recordJobUpdates,
  startInstance,
  startPeerPair,
  tileSelector,
  waitForTileState,
} from './harness.js';

const PUSH_B = tileSelector('sync-push', 'peer', 'peer-b');
const PUSH_C = tileSelector('sync-push', 'peer', 'peer-c');

// peer-a with two peers: peer-b, up, and peer-c, down until a test starts it. peer-a takes 500 ms per
// sync step, so a push of its 8 records lasts about 2.5 s: long enough to act on while it runs. peer-a
// reaches peer-b through a proxy that can hold a call, so a test can keep a push running for as long as
// it needs, however slow the machine.
describe('reference app: operators act on sync jobs', () => {
  let env: PeerPair;
  let a: Instance;
  let c: Instance | undefined;
  let chromium: PeerPair['chromium'];
  let toB: ForwardingProxy;
  let page: Page;
  const cardOf = (on: Page, peer: string) =>
    on.locator('section.card', { has: on.getByRole('heading', { name: `Peer ${peer}` }) });
  const card = (peer: string) => cardOf(page, peer);

  beforeAll(async () => {
    env = await startPeerPair({ paceMs: 500, holdableB: true });
    ({ a, chromium, page } = env);
    toB = env.toB as ForwardingProxy;
  });

  afterAll(async () => {
    await c?.stop();
    await env?.close();
  });

  it('cancels a running push from its card: the work stops, nothing reaches the peer', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    const cancel = card('peer-b').getByRole('button', { name: 'Cancel push' });
    expect(await cancel.isVisible()).toBe(false); // nothing to cancel yet
    // Its first chunk is held at the proxy: the push is mid-transfer when it is cancelled.
    const held = toB.holdNext(isChunkCall(1));
    await card('peer-b').getByRole('button', { name: 'Push now' }).click();
    const chunk = await held;
    await waitForTileState(page, PUSH_B, 'running');
    const running = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/api/admin/jobs/${running?.id}/cancel`)),
      cancel.click(),
    ]);
    expect(request.headers()['x-realtime-jobs']).toBe('1');
    await waitForTileState(page, PUSH_B, 'cancelled');
    chunk.release();
    await cancel.waitFor({ state: 'hidden' });
    const cancelled = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);
    expect(cancelled).toMatchObject({ id: running?.id, message: 'Cancelled by admin' });
    expect(await logLines(page, a.url, String(running?.id))).not.toContain('peer-b applied 8 records: 8 new there');

    // Push again at once. Had the cancelled work gone on, it would have applied its bundle first (it
    // started first, step for step the same): this push would then find nothing new on peer-b.
    await card('peer-b').getByRole('button', { name: 'Push now', disabled: false }).click();
    await page.waitForFunction(
      ([sel, old]) => {
        const tile = document.querySelector(sel as string) as (Element & { job?: { id: string } | null }) | null;
        return tile?.getAttribute('state') === 'success' && tile.job?.id !== old;
      },
      [PUSH_B, running?.id] as const,
      { timeout: 15_000, polling: 50 },
    );
    const again = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);
    expect(again?.message).toBe('Pushed 8 records to peer-b: 8 new there, signature verified.');
  });

  it('queues a push of changed records behind the running push to that peer', async () => {
    // A page rendered while nothing runs, with JavaScript off: its Push now stays enabled. Another
    // tab has a record typed in, to add while the push runs.
    const plain = await noScriptPage(chromium);
    await plain.goto(`${a.url}/admin/sync-control`);
    const records = await chromium.context.newPage();
    await records.goto(`${a.url}/admin/records`);
    await records.getByRole('textbox', { name: 'Title' }).fill('Added during a push');
    await page.goto(`${a.url}/admin/sync-control`);
    const updates = await recordJobUpdates(page, 'category=sync-push&target.peer=peer-b');
    // The push's first chunk is held at the proxy until the second push is queued: the first has read
    // the records it sends, and cannot end, however long the steps below take.
    const held = toB.holdNext(isChunkCall(1));
    await card('peer-b').getByRole('button', { name: 'Push now' }).click();
    const chunk = await held;
    const first = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);
    expect(first?.state).toBe('running');
    await records.getByRole('button', { name: 'Add record' }).click();
    await records.getByText('Added "Added during a push".').waitFor();
    await records.close();

    await cardOf(plain, 'peer-b').getByRole('button', { name: 'Push now' }).click();
    await plain.waitForURL(`${a.url}/admin/sync-control`);
    // Rendered by the server while the first push runs, the new one waits, and says so without JavaScript.
    expect(await plain.locator(PUSH_B).getAttribute('state')).toBe('queued');
    await plain.close();
    const second = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);
    expect(second?.id).not.toBe(first?.id);
    expect(second?.state).toBe('queued');
    expect(await card('peer-b').getByRole('button', { name: 'Push now' }).isDisabled()).toBe(true);
    chunk.release();

    await waitForTileState(page, PUSH_B, 'success');
    const seen = await updates();
    const firstDone = seen.indexOf(`${first?.id} success`);
    expect(firstDone).toBeGreaterThan(-1);
    expect(seen.indexOf(`${second?.id} queued`)).toBeLessThan(firstDone);
    expect(seen.indexOf(`${second?.id} running`)).toBeGreaterThan(firstDone);
    expect((await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']))?.message).toBe(
      'Pushed 9 records to peer-b: 1 new there, signature verified.',
    );
  });

  it('retries a failed push by itself, then through the retry action once the peer is up', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    await card('peer-c').getByRole('button', { name: 'Push now' }).click();
    // Between attempts the tile says which failed and when the next starts.
    await page
      .locator(PUSH_C)
      .getByText(/^Attempt 1 of 3 failed: peer-c at .* is not reachable/)
      .filter({ visible: true })
      .first()
      .waitFor({ timeout: 15_000 });
    await waitForTileState(page, PUSH_C, 'error');
    const failed = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-c']);
    expect(failed).toMatchObject({ attempt: 3, maxAttempts: 3 });
    const lines = await logLines(page, a.url, String(failed?.id));
    expect(lines.filter((line) => /^Attempt \d failed: peer-c at .* connection refused/.test(line))).toHaveLength(3);
    expect(lines).toContain('Attempt 3 of 3');

    c = await startInstance({
      name: 'peer-c',
      port: env.portC,
      dataDir: env.dataDir,
      peers: { 'peer-a': a.port },
      dedalusUrl: env.dedalusUrl,
    });
    // The job history is the library's <job-list>: Retry on the failed job's row posts the library's
    // retry action, and the new job appears on top, live, through to its end.
    const history = await chromium.context.newPage();
    await history.goto(`${a.url}/admin/jobs`);
    await history.waitForFunction(() => customElements.get('job-list') !== undefined);
    const failedRow = history.locator(`job-list tr[data-job-id="${failed?.id}"]:visible`);
    const [request] = await Promise.all([
      history.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/api/admin/jobs/${failed?.id}/retry`)),
      failedRow.getByRole('button', { name: 'Retry sync-push (peer: peer-c)' }).click(),
    ]);
    expect(request.headers()['x-realtime-jobs']).toBe('1');
    // `:visible`: the element renders in its shadow root; the server's rows stay behind, unrendered.
    const newest = history.locator('job-list tbody tr[data-job-id]:visible').first();
    await expect
      .poll(
        async () =>
          `${(await newest.getAttribute('data-job-id')) !== failed?.id} ${await newest.getAttribute('data-state')}`,
        {
          timeout: 15_000,
          interval: 100,
        },
      )
      .toBe('true success');
    const retriedId = await newest.getAttribute('data-job-id');
    await waitForTileState(page, PUSH_C, 'success');
    const done = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-c']);
    expect(done).toMatchObject({
      id: retriedId,
      retryOf: failed?.id,
      data: { peer: 'peer-c', allowUnsigned: false },
      result: { signed: true },
    });
    const result = done?.result as { records: number; added: number };
    expect(result.added).toBe(result.records); // all of them new on peer-c

    // Its detail, from the row's toggle: the log lines the work wrote, from the library's detail route.
    await newest.getByRole('button', { name: 'sync-push', exact: true }).click();
    await history.locator('job-list .rj-log li', { hasText: `peer-c applied ${result.records} records` }).waitFor();
    expect(await history.locator('job-list .rj-log li:visible').allInnerTexts()).toEqual(
      expect.arrayContaining([expect.stringContaining('Connecting to peer-c at http://127.0.0.1:')]),
    );
    await history.close();
  });

  it('pushes to two peers at once', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    const updates = await recordJobUpdates(page, 'category=sync-push');
    // The push to peer-b is held mid-transfer until the push to peer-c runs too.
    const held = toB.holdNext(isChunkCall(1));
    await card('peer-b').getByRole('button', { name: 'Push now' }).click();
    const chunk = await held;
    await card('peer-c').getByRole('button', { name: 'Push now' }).click();
    await waitForTileState(page, PUSH_C, 'running');
    chunk.release();
    await waitForTileState(page, PUSH_B, 'success');
    await waitForTileState(page, PUSH_C, 'success');
    const [pushB, pushC] = [
      await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']),
      await latestJob(page, a.url, 'sync-push', ['peer', 'peer-c']),
    ];
    const seen = await updates();
    const firstDone = Math.min(seen.indexOf(`${pushB?.id} success`), seen.indexOf(`${pushC?.id} success`));
    expect(seen.indexOf(`${pushB?.id} running`)).toBeLessThan(firstDone);
    expect(seen.indexOf(`${pushC?.id} running`)).toBeLessThan(firstDone);
    expect(seen.indexOf(`${pushB?.id} running`)).toBeGreaterThan(-1);
    expect(seen.indexOf(`${pushC?.id} running`)).toBeGreaterThan(-1);
  });
});
