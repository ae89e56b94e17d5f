import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.js';
import {
  addRecord,
  freePort,
  type Instance,
  latestJob,
  logIn,
  setSigning,
  startDedalusStandIn,
  startInstance,
  tempDir,
  tileSelector,
  waitForTileState,
} from './harness.js';

// A crash in the middle of a push: the history survives, the job ends with the restart error, and the
// page (still logged in: sessions live in SQLite) offers the button again.
describe('reference app: restart in the middle of a job', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let standIn: Awaited<ReturnType<typeof startDedalusStandIn>>;
  let a: Instance;
  let b: Instance;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let portA: number;
  let portB: number;

  const startA = (paceMs: number) =>
    startInstance({
      name: 'peer-a',
      port: portA,
      dataDir: dir.path,
      peers: { 'peer-b': portB },
      dedalusUrl: standIn.url,
      paceMs,
    });

  beforeAll(async () => {
    dir = await tempDir();
    standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
    [portA, portB] = [await freePort(), await freePort()];
    [a, b] = await Promise.all([
      startA(40),
      startInstance({
        name: 'peer-b',
        port: portB,
        dataDir: dir.path,
        peers: { 'peer-a': portA },
        dedalusUrl: standIn.url,
      }),
    ]);
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await standIn?.close();
    await dir?.remove();
  });

  it('keeps history and session, shows the restart error and enables the buttons again', {
    timeout: 60_000,
  }, async () => {
    const page = await chromium.context.newPage();
    await logIn(page, a.url);
    const pullTile = tileSelector('sync-pull', 'peer', 'peer-b');
    const pushTile = tileSelector('sync-push', 'peer', 'peer-b');
    await page.goto(`${a.url}/admin/sync-control`);
    await page.getByRole('button', { name: 'Pull now' }).click();
    await waitForTileState(page, pullTile, 'success');
    const pulled = await latestJob(page, a.url, 'sync-pull');

    // Slow steps this time, so the push is surely mid-transfer when the process dies.
    await a.stop();
    a = await startA(2000);
    await page.goto(`${a.url}/admin/sync-control`);
    expect(new URL(page.url()).pathname).toBe('/admin/sync-control');
    const push = page.getByRole('button', { name: 'Push now' });
    await push.click();
    await waitForTileState(page, pushTile, 'running');
    expect(await push.isDisabled()).toBe(true);
    const interrupted = await latestJob(page, a.url, 'sync-push');
    await a.kill();

    a = await startA(40);
    await page.goto(`${a.url}/admin/sync-control`);
    expect(new URL(page.url()).pathname).toBe('/admin/sync-control');
    expect(await page.locator(pushTile).getAttribute('state')).toBe('error');
    await page
      .locator(pushTile)
      .getByText('The server restarted before this job finished.')
      .filter({ visible: true })
      .first()
      .waitFor();
    expect(await push.isEnabled()).toBe(true);
    expect(await page.getByRole('button', { name: 'Pull now' }).isEnabled()).toBe(true);
    const after = await latestJob(page, a.url, 'sync-push');
    expect(after?.id).toBe(interrupted?.id);
    expect(after?.state).toBe('error');

    await page.goto(`${a.url}/admin/jobs`);
    await page.locator(`job-list tr[data-job-id="${interrupted?.id}"][data-state="error"]:visible`).waitFor();
    await page.locator(`job-list tr[data-job-id="${pulled?.id}"][data-state="success"]:visible`).waitFor();
    // Filtered by state (the list's filter form), each job lands on its side only.
    await page.locator('job-list').getByRole('combobox', { name: 'State' }).selectOption('error');
    await page.locator('job-list').getByRole('button', { name: 'Filter' }).click();
    await page.locator(`job-list tr[data-job-id="${pulled?.id}"]:visible`).waitFor({ state: 'detached' });
    await page.locator(`job-list tr[data-job-id="${interrupted?.id}"]:visible`).waitFor();
    // The same filters as a page address (what the form sends without JavaScript).
    await page.goto(`${a.url}/admin/jobs?state=success&category=sync-pull`);
    await page.locator(`job-list tr[data-job-id="${pulled?.id}"]:visible`).waitFor();
    expect(await page.locator(`job-list tr[data-job-id="${interrupted?.id}"]:visible`).count()).toBe(0);
    await page.goto(`${a.url}/admin/sync-control`);
    await page.locator('#sync-live table.log tbody tr', { hasText: 'The server restarted' }).waitFor();

    // And it works again.
    await push.click();
    await waitForTileState(page, pushTile, 'success');
    await page.close();
  });

  it('keeps a bundle held for approval across a restart, and applies it when approved afterwards', async () => {
    // peer-b stops signing, through its own records page, and gets a record peer-a lacks.
    const other = await chromium.context.newPage();
    await logIn(other, b.url);
    await addRecord(other, b.url, 'Approved after a restart');
    await setSigning(other, b.url, false);

    const page = await chromium.context.newPage();
    await logIn(page, a.url);
    const pullTile = tileSelector('sync-pull', 'peer', 'peer-b');
    await page.goto(`${a.url}/admin/sync-control`);
    await page.getByRole('button', { name: 'Pull now' }).click();
    await waitForTileState(page, pullTile, 'pending');
    const held = await latestJob(page, a.url, 'sync-pull');

    // A graceful restart (as Ctrl-C and npm start again): pending jobs wait on a person, not the process.
    await a.stop();
    a = await startA(40);
    await page.goto(`${a.url}/admin/sync-control`);
    expect(await page.locator(pullTile).getAttribute('state')).toBe('pending');
    expect(await page.getByRole('button', { name: 'Pull now' }).isDisabled()).toBe(true);
    await page.locator(`[data-approval="${held?.id}"]`).getByRole('button', { name: 'Approve' }).click();
    await waitForTileState(page, pullTile, 'warning');
    const approved = await latestJob(page, a.url, 'sync-pull');
    expect(approved?.id).toBe(held?.id);
    expect(approved?.message).toContain('approved by admin');
    expect(await page.getByRole('button', { name: 'Pull now' }).isEnabled()).toBe(true);
    await page.goto(`${a.url}/admin/records`);
    await page.getByRole('cell', { name: 'Approved after a restart', exact: true }).waitFor();
    await Promise.all([page.close(), other.close()]);
  });
});
