import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  GOOD_KEY,
  type Instance,
  jobDetail,
  latestJob,
  logIn,
  type SingleApp,
  startSingleApp,
  tileSelector,
  waitForTileState,
} from './harness.js';

// The Dedalus page: the real dedalus-labs SDK, over HTTP, to the local stand-in of the API.
describe('reference app: Dedalus connection', () => {
  let env: SingleApp;
  let app: Instance;
  let page: Page;
  const saveTile = tileSelector('dedalus-save', 'service', 'dedalus');
  const verifyTile = tileSelector('dedalus-verify', 'service', 'dedalus');
  const field = (name: string) => page.locator(`[data-field="${name}"]`);

  async function save(key: string) {
    await page.getByLabel('New API key').fill(key);
    await page.getByRole('button', { name: 'Save API key' }).click();
  }

  beforeAll(async () => {
    env = await startSingleApp({ keys: [GOOD_KEY], delayMs: 150 });
    app = env.app;
    page = await env.chromium.context.newPage();
    await logIn(page, app.url);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('offers no Verify without a saved key, says why, and a verify posted anyway fails saying why', async () => {
    await page.goto(`${app.url}/admin/dedalus`);
    const verify = page.getByRole('button', { name: 'Verify connection' });
    expect(await verify.isDisabled()).toBe(true);
    expect(await verify.getAttribute('aria-describedby')).toBe('verify-hint');
    expect(await page.locator('#verify-hint').textContent()).toBe(
      'Save an API key first: there is nothing to verify yet.',
    );
    // The page names where the calls go: here the test's service, no stand-in of the app's own.
    expect(await page.locator('[data-field="dedalus-target"]').textContent()).toContain(env.dedalusUrl);
    expect(await page.locator('[data-field="demo-key"]').count()).toBe(0);
    // A page rendered before the key was cleared (another tab) may still post it: the job says why.
    await page.evaluate(async () => {
      const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
      await fetch('/admin/dedalus/verify', {
        method: 'POST',
        headers: { accept: 'application/json', 'x-csrf-token': token },
      });
    });
    await waitForTileState(page, verifyTile, 'error');
    expect((await latestJob(page, app.url, 'dedalus-verify'))?.message).toBe('No API key is saved: save one first');
  });

  it('saves a good key: verified through the SDK, shown back only masked', async () => {
    await page.goto(`${app.url}/admin/dedalus`);
    await save(GOOD_KEY);
    await waitForTileState(page, saveTile, 'success');
    expect((await latestJob(page, app.url, 'dedalus-save'))?.message).toBe('Saved and verified: 3 models available.');
    // "Verified at" follows the job without a reload, and Verify is offered now that a key is saved.
    await page.locator('[data-field="verified-at"]', { hasText: / UTC$/ }).waitFor();
    await page.getByRole('button', { name: 'Verify connection', disabled: false }).waitFor();
    expect(await page.locator('#verify-hint').count()).toBe(0);
    await page.reload();
    const masked = await field('masked-key').textContent();
    expect(masked).toBe(`${GOOD_KEY.slice(0, 4)}••••••••${GOOD_KEY.slice(-4)}`);
    expect(await page.content()).not.toContain(GOOD_KEY);
    expect(await field('verified-at').textContent()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);

    // The job knows the key only masked: its input, its result and its log lines.
    const saved = await latestJob(page, app.url, 'dedalus-save');
    const detail = await jobDetail(page, app.url, String(saved?.id));
    expect(JSON.stringify(detail)).not.toContain(GOOD_KEY);
    expect(detail.job).toMatchObject({ data: { maskedKey: masked }, result: { models: 3 } });
    expect(detail.job.result).toEqual({ models: 3, verifiedAt: expect.stringMatching(/^\d{4}-.*Z$/) });
    expect(detail.log.map((line) => line.text)).toEqual([
      `Saved key ${masked}; "verified at" cleared until it passes`,
      `Listing models at ${env.dedalusUrl} with key ${masked}`,
      `GET ${env.dedalusUrl}/v1/models`,
      'Dedalus accepted the key: 3 models available',
    ]);
  });

  it('verifies the connection with the good key', async () => {
    await page.goto(`${app.url}/admin/dedalus`);
    await page.getByRole('button', { name: 'Verify connection' }).click();
    await waitForTileState(page, verifyTile, 'success');
    expect((await latestJob(page, app.url, 'dedalus-verify'))?.message).toMatch(/^Connected: 3 models available\./);
  });

  it('saving a bad key fails verification and clears "verified at"; verifying it fails with 401', async () => {
    await page.goto(`${app.url}/admin/dedalus`);
    await save('dsk-wrong-key-000000000');
    await waitForTileState(page, saveTile, 'error');
    expect((await latestJob(page, app.url, 'dedalus-save'))?.message).toBe(
      'Saved, but not verified: Dedalus refused the API key (401 Unauthorized)',
    );
    await page.reload();
    expect(await field('verified-at').textContent()).toBe('not verified');

    await page.getByRole('button', { name: 'Verify connection' }).click();
    await waitForTileState(page, verifyTile, 'error');
    const refused = await latestJob(page, app.url, 'dedalus-verify');
    expect(refused?.message).toBe('Dedalus refused the API key (401 Unauthorized)');
    // Asked once: the SDK retries what may pass, never a refused key.
    expect(
      (await jobDetail(page, app.url, String(refused?.id))).log.map((line) => `${line.level} ${line.text}`),
    ).toEqual([
      `info Listing models at ${env.dedalusUrl} with key dsk-••••••••0000`,
      `info GET ${env.dedalusUrl}/v1/models`,
      'error Attempt 1 failed: Dedalus refused the API key (401 Unauthorized)',
    ]);
  });

  it('refuses a malformed key with a message, without starting a job', async () => {
    await page.goto(`${app.url}/admin/dedalus`);
    const before = (await latestJob(page, app.url, 'dedalus-save'))?.id;
    await page.getByLabel('New API key').fill('has spaces in it');
    await page.getByRole('button', { name: 'Save API key' }).click();
    await page.getByText('The API key must not contain spaces').waitFor();
    expect((await latestJob(page, app.url, 'dedalus-save'))?.id).toBe(before);
  });

  it('lists every run in the log with trigger, outcome, duration and error', async () => {
    await page.goto(`${app.url}/admin/dedalus/logs`);
    const rows = page.locator('table.log tbody tr');
    expect(await rows.count()).toBe(5);
    const cells = await rows.evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim() ?? '')),
    );
    // Newest first: verify (bad), save (bad), verify (good), save (good), verify (no key).
    // States in the tiles' words.
    expect(cells.map((row) => `${row[1]} ${row[2]}`)).toEqual([
      'verify Failed',
      'save Failed',
      'verify Succeeded',
      'save Succeeded',
      'verify Failed',
    ]);
    expect(cells[0]?.[5]).toBe('Dedalus refused the API key (401 Unauthorized)');
    expect(cells[2]?.[4]).toBe('3');
    for (const row of cells) expect(row[3]).toMatch(/^\d+ ms$/);
  });
  it('clears the saved key', async () => {
    await page.goto(`${app.url}/admin/dedalus`);
    await page.getByRole('button', { name: 'Clear API key' }).click();
    await page.getByText('The API key was removed.').waitFor();
    expect(await field('masked-key').textContent()).toBe('none');
    expect(await field('verified-at').textContent()).toBe('not verified');
    expect(await page.getByRole('button', { name: 'Clear API key' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Verify connection' }).isDisabled()).toBe(true);
  });
});
