import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addRecord,
  type Instance,
  latestJob,
  logIn,
  type PeerPair,
  setSigning,
  startPeerPair,
  tileSelector,
  waitForTileState,
} from './harness.js';

// Two real instances that are each other's peer, and real Chromium: what happens to unsigned bundles.
describe('reference app: unsigned bundles wait for approval', () => {
  let env: PeerPair;
  let a: Instance;
  let b: Instance;
  let chromium: PeerPair['chromium'];
  let page: Page;
  const card = (peer: string) => env.card(peer);

  beforeAll(async () => {
    env = await startPeerPair();
    ({ a, b, chromium, page } = env);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('holds an unsigned pulled bundle for approval, then applies it when approved', async () => {
    // peer-b stops signing, through its own records page.
    const other = await chromium.context.newPage();
    await logIn(other, b.url);
    await addRecord(other, b.url, 'Made on peer-b');
    await setSigning(other, b.url, false);

    await page.goto(`${a.url}/admin/sync-control`);
    const selector = tileSelector('sync-pull', 'peer', 'peer-b');
    await card('peer-b').getByRole('button', { name: 'Pull now' }).click();
    await waitForTileState(page, selector, 'pending');
    const pending = await latestJob(page, a.url, 'sync-pull', ['peer', 'peer-b']);
    expect(pending?.message).toContain('is not signed');
    // Busy while it waits: the button stays disabled.
    expect(await card('peer-b').getByRole('button', { name: 'Pull now' }).isDisabled()).toBe(true);

    const approval = page.locator(`[data-approval="${pending?.id}"]`);
    await approval.getByRole('button', { name: 'Approve' }).click();
    await waitForTileState(page, selector, 'warning');
    const done = await latestJob(page, a.url, 'sync-pull', ['peer', 'peer-b']);
    expect(done?.id).toBe(pending?.id);
    expect(done?.message).toContain('UNSIGNED');
    expect(done?.message).toContain('approved by admin');
    await approval.waitFor({ state: 'detached' });
    expect(await card('peer-b').getByRole('button', { name: 'Pull now' }).isEnabled()).toBe(true);

    await page.goto(`${a.url}/admin/records`);
    await page.getByRole('cell', { name: 'Made on peer-b', exact: true }).waitFor();

    // With "allow unsigned" the next unsigned pull is applied at once, and ends as a warning.
    await page.goto(`${a.url}/admin/sync-control`);
    await card('peer-b').getByLabel('allow unsigned').check();
    await card('peer-b').getByRole('button', { name: 'Pull now' }).click();
    // The tile already shows the approved pull as a warning: wait for the new job, not the state.
    await page.waitForFunction(
      ([sel, old]) => {
        const tile = document.querySelector(sel as string) as (Element & { job?: { id: string } | null }) | null;
        return tile?.getAttribute('state') === 'warning' && tile.job?.id !== old;
      },
      [selector, pending?.id] as const,
      { timeout: 15_000, polling: 50 },
    );
    const allowed = await latestJob(page, a.url, 'sync-pull', ['peer', 'peer-b']);
    expect(allowed?.id).not.toBe(pending?.id);
    expect(allowed?.message).toContain('allowed by "allow unsigned"');

    await setSigning(other, b.url, true);
    await other.close();
  });

  it('rejects a held bundle: the job ends cancelled and nothing is applied', async () => {
    await setSigning(page, a.url, false);
    await addRecord(page, a.url, 'Never reaches peer-b');
    await page.goto(`${a.url}/admin/sync-control`);
    const selector = tileSelector('sync-push', 'peer', 'peer-b');
    await card('peer-b').getByRole('button', { name: 'Push now' }).click();
    await waitForTileState(page, selector, 'pending');
    await page.locator('[data-approval]').getByRole('button', { name: 'Reject' }).click();
    await waitForTileState(page, selector, 'cancelled');
    expect((await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']))?.message).toContain('Rejected by admin');

    const other = await chromium.context.newPage();
    await other.goto(`${b.url}/admin/records`);
    await other.getByRole('heading', { name: 'Records' }).waitFor();
    expect(await other.getByRole('cell', { name: 'Never reaches peer-b', exact: true }).count()).toBe(0);
    await other.close();
    await setSigning(page, a.url, true);
  });
});
