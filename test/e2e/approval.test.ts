import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  addRecord,
  type Instance,
  jobAction,
  jobDetail,
  latestJob,
  logIn,
  noScriptPage,
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

    // A held bundle is released by Reject, which discards it: cancelling it is not allowed.
    expect((await jobDetail(page, a.url, String(pending?.id))).permissions).toEqual(['retry', 'approve', 'reject']);
    expect((await jobAction(page, String(pending?.id), 'cancel')).status).toBe(403);

    // Approve is the job API's own action, posted by the page's script with the same-origin proof.
    const approval = page.locator(`[data-approval="${pending?.id}"]`);
    const [request] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && r.url() === `${a.url}/api/admin/jobs/${pending?.id}/approve`),
      approval.getByRole('button', { name: 'Approve' }).click(),
    ]);
    expect(request.headers()['x-realtime-jobs']).toBe('1');
    await waitForTileState(page, selector, 'warning');
    const done = await latestJob(page, a.url, 'sync-pull', ['peer', 'peer-b']);
    expect(done?.id).toBe(pending?.id);
    expect(done?.message).toContain('UNSIGNED');
    expect(done?.message).toContain('approved by admin');
    await approval.waitFor({ state: 'detached' });
    expect(await card('peer-b').getByRole('button', { name: 'Pull now' }).isEnabled()).toBe(true);
    // The definition's onApprove applied the held bundle and returned the result.
    const detail = await jobDetail(page, a.url, String(pending?.id));
    expect(detail.job.result).toEqual({ records: 9, added: 9, signed: false });
    const lines = detail.log.map((line) => line.text);
    expect(lines).toEqual(
      expect.arrayContaining([
        'The bundle from peer-b is not signed',
        'Held 9 records here until someone approves or rejects them',
        'Approved by admin: applying the held unsigned bundle',
        'Applied 9 records: 9 new',
      ]),
    );
    expect(lines.indexOf('Approved by admin: applying the held unsigned bundle')).toBeGreaterThan(
      lines.indexOf('Held 9 records here until someone approves or rejects them'),
    );

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
    const held = await latestJob(page, a.url, 'sync-push', ['peer', 'peer-b']);

    // Without JavaScript the page says that approving needs it, and offers no button that would work.
    const plain = await noScriptPage(chromium);
    await plain.goto(`${a.url}/admin/sync-control`);
    const item = plain.locator(`[data-approval="${held?.id}"]`);
    await item.getByText('Approving or rejecting needs JavaScript').waitFor();
    expect(await item.getByRole('button', { name: 'Approve' }).isDisabled()).toBe(true);
    expect(await item.getByRole('button', { name: 'Reject' }).isDisabled()).toBe(true);
    await plain.close();
    expect(await page.locator(`[data-approval="${held?.id}"]`).getByText('needs JavaScript').isVisible()).toBe(false);

    const [request] = await Promise.all([
      page.waitForRequest((r) => r.method() === 'POST' && r.url() === `${a.url}/api/admin/jobs/${held?.id}/reject`),
      page.locator(`[data-approval="${held?.id}"]`).getByRole('button', { name: 'Reject' }).click(),
    ]);
    expect(request.headers()['x-realtime-jobs']).toBe('1');
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
