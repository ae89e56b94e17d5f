// Takes the screenshots of the reference app in docs/screenshots/ (real Chromium, real jobs). By
// default it starts two instances of its own (peer-a and peer-b, in-process, in a temporary data
// folder, each with its Dedalus stand-in), as `npm start` would: `npm run screenshots` runs it so.
// Against a running `npm start` instead:
//   ADMIN_PASSWORD=… node examples/admin-app/screenshots.js http://127.0.0.1:3000 http://127.0.0.1:3001
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
// The app as `npm start` runs it, compiled by `npm run build` (scripts/build-app.mjs).
import { startInstance } from './build/server.js';

const out = new URL('../../docs/screenshots/', import.meta.url).pathname;
const key = process.env.DEDALUS_KEY ?? 'dsk-demo-0123456789abcdef';
mkdirSync(out, { recursive: true });

async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Two fresh peers of each other, as `npm start` runs them, with a known admin password. */
async function startPair() {
  const dataDir = mkdtempSync(join(tmpdir(), 'admin-app-screenshots-'));
  const [port, peerPort] = [await freePort(), await freePort()];
  const password = 'screenshots-admin-password';
  const common = {
    DATA_DIR: dataDir,
    ADMIN_PASSWORD: password,
    VIEWER_PASSWORD: `${password}-viewer`,
    HOST: '127.0.0.1',
  };
  const env = (name, own, peer, other) => ({
    ...common,
    INSTANCE_NAME: name,
    PORT: String(own),
    PEERS: `${peer}=http://127.0.0.1:${other}`,
    SYNC_SECRET: 'screenshots-sync-secret-shared-by-both',
  });
  // Each instance reads its configuration from the environment when it starts, as a process of its
  // own would; the real Dedalus service is left out, so the page shows its stand-in as under `npm start`.
  delete process.env.DEDALUS_BASE_URL;
  const instances = [];
  for (const [name, own, peer, other] of [
    ['peer-a', port, 'peer-b', peerPort],
    ['peer-b', peerPort, 'peer-a', port],
  ]) {
    Object.assign(process.env, env(name, own, peer, other));
    instances.push(await startInstance());
  }
  return {
    urls: instances.map((instance) => instance.url),
    password,
    async close() {
      await Promise.all(instances.map((instance) => instance.close()));
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const own = process.argv.length > 2 ? null : await startPair();
const [base, peerBase] = own ? own.urls : process.argv.slice(2);
const password = own ? own.password : process.env.ADMIN_PASSWORD;
if (!password) throw new Error('Set ADMIN_PASSWORD to the admin password of the running app');

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
await page.locator('#sync-live tr', { hasText: 'Waiting for approval' }).first().waitFor();
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
await page.getByRole('button', { name: 'Verify connection', disabled: false }).click();
await settle('success', 'job-status[action="dedalus-verify"]');
await page.reload();
await shot('dedalus');
await page.goto(`${base}/admin/dedalus/logs`);
await shot('dedalus-logs');

// The job history, with the approved pull's detail and log open.
await page.goto(`${base}/admin/jobs`);
await page.waitForFunction(() => document.querySelector('job-list')?.shadowRoot?.querySelector('table'));
const pulled = page.locator('job-list tbody tr[data-job-id]:visible', { hasText: 'sync-pull' }).first();
await pulled.getByRole('button', { name: 'sync-pull', exact: true }).click();
await page.locator('job-list .rj-log li:visible').first().waitFor();
await page.mouse.move(0, 0);
await shot('jobs');
await browser.close();
await own?.close();
console.log(`screenshots written to ${out}`);
