// Takes the screenshots in docs/screenshots/ from a running `npm start` (real Chromium, real jobs):
//   ADMIN_PASSWORD=… node examples/admin-app/screenshots.js [http://127.0.0.1:3000] [http://127.0.0.1:3001]
import { mkdirSync } from 'node:fs';
import { chromium } from 'playwright-core';

const [base = 'http://127.0.0.1:3000', peerBase = 'http://127.0.0.1:3001'] = process.argv.slice(2);
const out = new URL('../../docs/screenshots/', import.meta.url).pathname;
const password = process.env.ADMIN_PASSWORD;
const key = process.env.DEDALUS_KEY ?? 'dsk-demo-0123456789abcdef';
if (!password) throw new Error('Set ADMIN_PASSWORD to the admin password of the running app');
mkdirSync(out, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu'],
});
const page = await browser.newPage({ viewport: { width: 1200, height: 860 }, deviceScaleFactor: 1 });
const shot = (name) => page.screenshot({ path: `${out}app-${name}.png`, fullPage: true });
const settle = (state, selector) =>
  page.waitForFunction(([sel, st]) => document.querySelector(sel)?.getAttribute('state') === st, [selector, state], {
    timeout: 20_000,
  });

async function logIn(url, user = 'admin', pass = password) {
  await page.goto(`${url}/login`);
  await page.getByLabel('Username').fill(user);
  await page.getByLabel('Password').fill(pass);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

await page.goto(`${base}/login`);
await shot('login');
await logIn(base);

// An unsigned bundle from the peer, held for approval, next to a finished push.
await logIn(peerBase);
await page.goto(`${peerBase}/admin/records`);
await page.getByLabel('Sign outgoing bundles').uncheck();
await page.getByRole('button', { name: 'Save signing setting' }).click();
await page.goto(`${base}/admin/sync-control`);
await page.getByRole('button', { name: 'Push now' }).first().click();
await settle('success', 'job-status[action="sync-push"]');
await page.getByRole('button', { name: 'Pull now' }).first().click();
await settle('pending', 'job-status[action="sync-pull"]');
await page.locator('[data-approval]').first().waitFor();
await shot('sync-control');
await page.locator('[data-approval]').first().getByRole('button', { name: 'Approve' }).click();
await settle('warning', 'job-status[action="sync-pull"]');
await page.goto(`${peerBase}/admin/records`);
await page.getByLabel('Sign outgoing bundles').check();
await page.getByRole('button', { name: 'Save signing setting' }).click();

await page.goto(`${base}/admin/records`);
await shot('records');

await page.goto(`${base}/admin/dedalus`);
await page.getByLabel('New API key').fill(key);
await page.getByRole('button', { name: 'Save API key' }).click();
await settle('success', 'job-status[action="dedalus-save"]');
await page.getByRole('button', { name: 'Verify connection' }).click();
await settle('success', 'job-status[action="dedalus-verify"]');
await page.reload();
await shot('dedalus');
await page.goto(`${base}/admin/dedalus/logs`);
await shot('dedalus-logs');
await page.goto(`${base}/admin/jobs`);
await page.waitForTimeout(500);
await shot('jobs');
await browser.close();
console.log(`screenshots written to ${out}`);
