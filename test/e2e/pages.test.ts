import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Instance,
  isChunkCall,
  latestJob,
  noScriptPage,
  type PeerPair,
  setSigning,
  startPeerPair,
  tileSelector,
  waitForTileState,
} from './harness.js';

const PUSH = tileSelector('sync-push', 'peer', 'peer-b');
const PULL = tileSelector('sync-pull', 'peer', 'peer-b');

interface Badge {
  text: string;
  background: string;
  color: string;
}

/** The words and colours of a state badge as Chromium shows them: a tile's, a table's or the list's. */
async function badgeOf(page: Page, where: 'tile' | 'activity' | 'list', selector: string): Promise<Badge> {
  await page
    .locator(where === 'list' ? `job-list ${selector}:visible` : selector)
    .first()
    .waitFor();
  return page.evaluate(
    ([kind, sel]) => {
      let badge: Element | null | undefined;
      if (kind === 'tile') {
        const tile = document.querySelector(sel);
        badge = tile?.shadowRoot?.querySelector('[part~="badge"]') ?? tile?.querySelector('.rj-badge');
      } else if (kind === 'list') {
        badge = document.querySelector('job-list')?.shadowRoot?.querySelector(`${sel} .rj-badge`);
      } else {
        badge = document.querySelector(`${sel} .state-badge`);
      }
      if (!badge) throw new Error(`no badge in ${kind} ${sel}`);
      const style = getComputedStyle(badge);
      return { text: badge.textContent?.trim() ?? '', background: style.backgroundColor, color: style.color };
    },
    [where, selector] as const,
  );
}

/** The text a tile shows (the element's shadow root once upgraded, else the server's markup). */
const tileText = (page: Page, selector: string) =>
  page.locator(selector).evaluate((tile) => (tile.shadowRoot ?? tile).textContent ?? '');

// What the pages say and show, in Chromium: peer-a (400 ms per sync step, so a push can be watched
// while it runs) and its peer peer-b.
describe('reference app: the pages tell the truth', () => {
  let env: PeerPair;
  let a: Instance;
  let chromium: PeerPair['chromium'];
  let page: Page;
  const card = () => env.card('peer-b');

  beforeAll(async () => {
    env = await startPeerPair({ paceMs: 400, withPeerC: false, holdableB: true });
    ({ a, chromium, page } = env);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('says plainly that nothing ran yet on a fresh instance, and no page asks for a missing icon', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    await page
      .getByText('No push or pull from this instance yet: the records it holds are the ones it started with.')
      .waitFor();
    expect(await tileText(page, PUSH)).toContain('Not pushed from here yet.');
    expect(await tileText(page, PULL)).toContain('Not pulled from here yet.');
    await page.locator('#sync-summary').getByText('holds 8 records').waitFor();

    // Every page links an icon that exists, and /favicon.ico (which browsers ask for anyway) is one.
    const missing: string[] = [];
    page.on('response', (response) => {
      if (response.status() === 404) missing.push(response.url());
    });
    for (const path of [
      '/admin/sync-control',
      '/admin/records',
      '/admin/dedalus',
      '/admin/dedalus/logs',
      '/admin/jobs',
      '/account',
    ]) {
      await page.goto(`${a.url}${path}`);
      const icon = await page.locator('link[rel="icon"]').getAttribute('href');
      const answer = await page.request.get(new URL(icon ?? '/missing', page.url()).href);
      expect(answer.status(), `${path}: its icon ${icon}`).toBe(200);
    }
    const favicon = await page.request.get(`${a.url}/favicon.ico`);
    expect(favicon.status()).toBe(200);
    expect(favicon.headers()['content-type']).toMatch(/^image\//);
    expect(missing).toEqual([]);
  });

  it('follows a running push in its Activity row', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    // Held at its second chunk until the row has shown it, however slow the machine.
    const held = env.toB?.holdNext(isChunkCall(2));
    await card().getByRole('button', { name: 'Push now' }).click();
    // While it runs, its row says what it does now, not what it did first.
    await page.waitForFunction(
      () => {
        const row = [...document.querySelectorAll('#sync-live tbody tr')].find((tr) =>
          tr.textContent?.includes('Push to peer-b'),
        );
        return (
          row?.querySelector('.state-badge')?.textContent === 'Running' &&
          row.querySelector('[data-field="message"]')?.textContent?.includes('Sending chunk 2 of 2')
        );
      },
      null,
      { timeout: 15_000, polling: 50 },
    );
    (await held)?.release();
    await waitForTileState(page, PUSH, 'success');
  });

  it('shows how the push ended, in the tiles’ words and colours everywhere', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    const job = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);
    expect(job?.state).toBe('success');
    const row = `#sync-live tr[data-job-id="${job?.id}"]`;
    await page.locator(row, { hasText: 'Succeeded' }).waitFor();
    await page.locator(row, { hasText: 'Pushed 8 records to peer-b: 8 new there, signature verified.' }).waitFor();

    // The tile says how it ended, not the step it was last at; so does the server's markup.
    await page.locator(PUSH).getByText('Pushed 8 records to peer-b').filter({ visible: true }).first().waitFor();
    expect(await tileText(page, PUSH)).not.toContain('Phase');
    await page.reload();
    expect(await tileText(page, PUSH)).toContain('Pushed 8 records to peer-b');
    expect(await tileText(page, PUSH)).not.toContain('Phase');

    // One word and one colour for the state: tile, activity table and job list.
    const tile = await badgeOf(page, 'tile', PUSH);
    expect(tile.text).toBe('Succeeded');
    expect(await badgeOf(page, 'activity', row)).toEqual(tile);
    await page.goto(`${a.url}/admin/jobs`);
    await page.waitForFunction(() => document.querySelector('job-list')?.shadowRoot?.querySelector('table'));
    expect(await badgeOf(page, 'list', `tr[data-job-id="${job?.id}"]`)).toEqual(tile);
  });

  it('pulls: the record count follows without a reload, and "allow unsigned" is the pull’s and does not stay ticked', async () => {
    await page.goto(`${a.url}/admin/sync-control`);
    const push = card().locator('form[action$="/push"]');
    const pull = card().locator('form[action$="/pull"]');
    expect(await push.getByLabel('allow unsigned').count()).toBe(0);
    const allow = pull.getByLabel('allow unsigned');
    await allow.check();
    await pull.getByRole('button', { name: 'Pull now' }).click();
    await waitForTileState(page, PULL, 'success');
    // peer-b's 8 seed records arrived: the line at the top says so, on the page as it is.
    await page.locator('#sync-summary').getByText('holds 16 records').waitFor();
    expect(await allow.isChecked()).toBe(false);
    expect(await tileText(page, PULL)).toContain('Pulled 16 records from peer-b: 8 new, signature verified.');
  });

  it('holds an unsigned push for approval even when "allow unsigned" is posted with it; the job list offers what the app allows', async () => {
    await setSigning(page, a.url, false);
    try {
      await page.goto(`${a.url}/admin/sync-control`);
      // What an old page (its checkbox sat in the push form) would post: it changes nothing now.
      const id = await page.evaluate(async () => {
        const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
        const response = await fetch('/admin/sync-control/peer-b/push', {
          method: 'POST',
          headers: {
            accept: 'application/json',
            'x-csrf-token': token,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: 'allow_unsigned=on',
        });
        return ((await response.json()) as { job: { id: string } }).job.id;
      });
      await waitForTileState(page, PUSH, 'pending');
      const held = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);
      expect(held).toMatchObject({ id, state: 'pending', data: { peer: 'peer-b', allowUnsigned: false } });
      const row = `#sync-live tr[data-job-id="${id}"]`;
      await page.locator(row, { hasText: 'Waiting for approval' }).waitFor();
      const tile = await badgeOf(page, 'tile', PUSH);
      expect(tile.text).toBe('Waiting for approval');
      expect(await badgeOf(page, 'activity', row)).toEqual(tile);
      // Waiting, like queued, in the tiles' waiting colours: not a colour of the app's own.
      const queuedColours = await page.evaluate(() => {
        const probe = document.createElement('span');
        probe.className = 'state-badge';
        probe.dataset.state = 'queued';
        document.body.append(probe);
        const style = getComputedStyle(probe);
        const colours = { background: style.backgroundColor, color: style.color };
        probe.remove();
        return colours;
      });
      expect(queuedColours).toEqual({ background: tile.background, color: tile.color });

      // The job history: Approve and Reject, but no Cancel (the app's authorizeAction forbids
      // cancelling a sync job that holds a bundle); Reject there ends it.
      await page.goto(`${a.url}/admin/jobs`);
      await page.waitForFunction(() => customElements.get('job-list') !== undefined);
      const listed = page.locator(`job-list tr[data-job-id="${id}"]:visible`);
      await listed.getByRole('button', { name: 'Approve sync-push (peer: peer-b)' }).waitFor();
      expect(await badgeOf(page, 'list', `tr[data-job-id="${id}"]`)).toEqual(tile);
      expect(await listed.getByRole('button', { name: /^Cancel/ }).count()).toBe(0);
      await listed.getByRole('button', { name: 'Reject sync-push (peer: peer-b)' }).click();
      await page.locator(`job-list tr[data-job-id="${id}"][data-state="cancelled"]:visible`).waitFor();

      // Rejected, its tile says so, and not the phase it waited in.
      await page.goto(`${a.url}/admin/sync-control`);
      await waitForTileState(page, PUSH, 'cancelled');
      expect(await tileText(page, PUSH)).toContain('Rejected by admin');
      expect(await tileText(page, PUSH)).not.toContain('awaiting-approval');
    } finally {
      await setSigning(page, a.url, true);
    }
  });

  it('without JavaScript: a POST says what it started, and the page reloads itself until the job ends', async () => {
    const plain = await noScriptPage(chromium);
    try {
      await plain.goto(`${a.url}/admin/sync-control`);
      expect(await plain.content()).not.toContain('http-equiv="refresh"');
      const pull = plain.locator('section.card', { hasText: 'Peer peer-b' }).getByRole('button', { name: 'Pull now' });
      await Promise.all([plain.waitForURL(`${a.url}/admin/sync-control`), pull.click()]);
      await plain.getByRole('status').getByText('Pull from peer-b started.').waitFor();
      expect(await plain.content()).toContain('<meta http-equiv="refresh" content="2">');
      // No script runs: only the page's own refresh can bring the outcome.
      await plain.locator(`${PULL}[state="success"]`).waitFor({ timeout: 20_000 });
      expect(await plain.content()).not.toContain('http-equiv="refresh"');
      expect(await plain.getByRole('status').count()).toBe(0); // the flash was said once
      expect(await plain.evaluate(() => customElements.get('job-status') === undefined)).toBe(true);

      // The job history is a plain table with paging links.
      await plain.goto(`${a.url}/admin/jobs?limit=1`);
      const rows = plain.locator('job-list tbody tr[data-job-id]');
      expect(await rows.count()).toBe(1);
      const first = await rows.getAttribute('data-job-id');
      await plain.getByRole('link', { name: 'Older jobs' }).click();
      await plain.waitForURL(/before=/);
      expect(await rows.count()).toBe(1);
      expect(await rows.getAttribute('data-job-id')).not.toBe(first);
      await plain.getByRole('link', { name: 'Newest jobs' }).waitFor();
      // A parameter the list cannot take is refused, naming it.
      const wrong = await plain.goto(`${a.url}/admin/jobs?state=finished`);
      expect(wrong?.status()).toBe(400);
      await plain.getByText('`state` must be one of queued, pending').waitFor();
    } finally {
      await plain.close();
    }
  });
});
