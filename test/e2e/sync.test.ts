import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Instance,
  isChunkCall,
  jobDetail,
  latestJob,
  logIn,
  type PeerPair,
  startPeerPair,
  tileSelector,
  waitForTileState,
} from './harness.js';

// Two real instances that are each other's peer, a third peer that is down, and real Chromium.
describe('reference app: sync control', () => {
  let env: PeerPair;
  let a: Instance;
  let b: Instance;
  let chromium: PeerPair['chromium'];
  let page: Page;
  const card = (peer: string) => env.card(peer);

  beforeAll(async () => {
    env = await startPeerPair({ holdableB: true });
    ({ a, b, chromium, page } = env);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('pushes to the peer over HTTP through every phase, live, and logs the activity', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    // Watch the job's changes on the job API's own stream while the button is clicked.
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { seen: string[] }).seen = seen;
      const source = new EventSource('/api/admin/jobs/events?category=sync-push&target.peer=peer-b');
      source.addEventListener('job-update', (event) => {
        const job = JSON.parse((event as MessageEvent).data);
        seen.push(`${job.state}|${job.phase}|${job.message}`);
      });
    });
    const push = card('peer-b').getByRole('button', { name: 'Push now' });
    await push.click();
    const selector = tileSelector('sync-push', 'peer', 'peer-b');
    await waitForTileState(page, selector, 'success');
    expect(page.url()).toBe(`${a.url}/admin/sync-control`); // no reload: fetch → 202
    await page
      .locator(selector)
      .getByText('Pushed 8 records to peer-b: 8 new there, signature verified.')
      .filter({ visible: true })
      .first()
      .waitFor();
    expect(await push.isEnabled()).toBe(true);

    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    const phases = seen.map((entry) => entry.split('|')[1]);
    expect(phases).toEqual(expect.arrayContaining(['connecting', 'transferring', 'verifying', 'applying']));
    expect(phases.indexOf('connecting')).toBeLessThan(phases.indexOf('transferring'));
    expect(phases.lastIndexOf('transferring')).toBeLessThan(phases.indexOf('verifying'));
    expect(seen).toContain('running|transferring|Sending chunk 2 of 2 (8 records)…');

    // What the work returned is the job's result, beside its input; its log says what happened.
    const job = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);
    const detail = await jobDetail(page, a.url, String(job?.id));
    expect(detail.job).toMatchObject({
      data: { peer: 'peer-b', allowUnsigned: false },
      result: { records: 8, added: 8, signed: true },
    });
    expect(detail.permissions).toEqual(['cancel', 'retry', 'approve', 'reject']);
    expect(detail.log.map((line) => line.text)).toEqual([
      expect.stringMatching(/^Connecting to peer-b at http:\/\/127\.0\.0\.1:\d+$/),
      'peer-b opened a transfer for 8 records in 2 chunks',
      'Sent chunk 1 of 2 (5 records)',
      'Sent chunk 2 of 2 (3 records)',
      expect.stringMatching(/^Signed the bundle \(SHA-256 [0-9a-f]{12}…\) with the peer-a\/peer-b bundle key$/),
      'peer-b checked the digest and the signature: both valid',
      'peer-b applied 8 records: 8 new there',
    ]);

    // The activity log follows without a reload, with the count from the job's result.
    const row = page.locator('#sync-live table.log tbody tr', { hasText: 'Push to peer-b' });
    await row.getByText('Succeeded').waitFor();
    expect(await row.getByRole('cell', { name: '8', exact: true }).count()).toBe(1);

    // The data really arrived on the other instance.
    const other = await chromium.context.newPage();
    await logIn(other, b.url);
    await other.goto(`${b.url}/admin/records`);
    await other.getByRole('cell', { name: 'peer-a record 1', exact: true }).waitFor();
    await other.close();
  });

  it('starts no duplicate when Push is posted twice while the first is busy', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    // The first push is held at its first chunk, so it is surely busy when the second POST arrives.
    const held = env.toB?.holdNext(isChunkCall(1));
    const ids = await page.evaluate(async () => {
      const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
      const post = () =>
        fetch('/admin/sync-control/peer-b/push', {
          method: 'POST',
          headers: { accept: 'application/json', 'x-csrf-token': token },
        }).then((r) => r.json());
      const [first, second] = await Promise.all([post(), post()]);
      return [first.job.id, second.job.id];
    });
    expect(ids[0]).toBe(ids[1]);
    (await held)?.release();
    await waitForTileState(page, tileSelector('sync-push', 'peer', 'peer-b'), 'success');
  });

  it('ends as an error that says so when the peer is down, and re-enables the button', async () => {
    // The job history, open in another tab, shows the new job live.
    const history = await chromium.context.newPage();
    await history.goto(`${a.url}/admin/jobs?category=sync-push`);
    await history.getByRole('heading', { name: 'Job history' }).waitFor();
    await history.waitForFunction(() => customElements.get('job-list') !== undefined);
    await page.goto(`${a.url}/admin/sync-control`);
    const selector = tileSelector('sync-push', 'peer', 'peer-c');
    const push = card('peer-c').getByRole('button', { name: 'Push now' });
    await push.click();
    await waitForTileState(page, selector, 'error');
    const job = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-c']);
    await history.locator(`job-list tr[data-job-id="${job?.id}"][data-state="error"]:visible`).waitFor();
    await history.close();
    expect(job?.message).toMatch(/^peer-c at http:\/\/127\.0\.0\.1:\d+ is not reachable: connection refused/);
    await page.locator(selector).getByText('is not reachable').filter({ visible: true }).first().waitFor();
    await expectEnabled(push);
  });

  it('works without JavaScript: the form posts, 303 back, the tile is rendered on the server', async () => {
    // Same profile (so same login), but this page runs no script at all, as with JavaScript turned off.
    const plain = await chromium.context.newPage();
    const cdp = await chromium.context.newCDPSession(plain);
    await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
    try {
      await plain.goto(`${a.url}/admin/sync-control`);
      // No script ran: the element was never defined, the tiles are the server's markup.
      expect(await plain.evaluate(() => customElements.get('job-status') === undefined)).toBe(true);
      const pull = plain.locator('section.card', { hasText: 'Peer peer-b' }).getByRole('button', { name: 'Pull now' });
      const [response] = await Promise.all([
        plain.waitForResponse((r) => r.url().endsWith('/admin/sync-control/peer-b/pull')),
        pull.click(),
      ]);
      expect(response.status()).toBe(303);
      await plain.waitForURL(`${a.url}/admin/sync-control`);
      const selector = tileSelector('sync-pull', 'peer', 'peer-b');
      let state = await plain.locator(selector).getAttribute('state');
      for (let i = 0; i < 50 && state !== 'success'; i++) {
        await plain.waitForTimeout(200);
        await plain.reload();
        state = await plain.locator(selector).getAttribute('state');
      }
      expect(state).toBe('success');
      await plain
        .locator(selector)
        .getByText(/Pulled \d+ records from peer-b/)
        .filter({ visible: true })
        .first()
        .waitFor();
      expect(await plain.evaluate(() => customElements.get('job-status') === undefined)).toBe(true);
    } finally {
      await cdp.detach();
      await plain.close();
    }
  });

  it('has no accessibility violations (axe) on sync control, Dedalus and the job history', async () => {
    // The richest pages (cards, tiles, forms, tables, live regions, the list); axe takes seconds per page here.
    for (const path of ['/admin/sync-control', '/admin/dedalus', '/admin/jobs']) {
      await page.goto(`${a.url}${path}`);
      await page.waitForFunction(() => customElements.get('job-status') !== undefined);
      const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      expect(
        result.violations.map(
          (v) => `${path} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
        ),
      ).toEqual([]);
    }
  });
});

async function expectEnabled(locator: ReturnType<Page['locator']>) {
  for (let i = 0; i < 100; i++) {
    if (await locator.isEnabled()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the button stayed disabled');
}
