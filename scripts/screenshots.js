// Takes docs/screenshots/job-status-*.png: one `<job-status>` tile in each state, rendered by the
// built package (`renderJobStatus()`, the browser bundle, the job routes) in real Chromium.
//   npm run screenshots                       (builds first)
//   SCREENSHOTS_DIR=/tmp/shots node scripts/screenshots.js   (elsewhere, from an existing build)
// The screenshots of the reference app are taken by examples/admin-app/screenshots.js.
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createJobRegistry, createJobsEndpoint } from 'realtime-jobs';
import { renderJobStatus } from 'realtime-jobs/html';
import { toNodeHandler } from 'realtime-jobs/node';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/support/chromium.js';

const PREFIX = '/api/admin/jobs';
const out = process.env.SCREENSHOTS_DIR ?? fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const bundle = await readFile(new URL('../dist/browser/realtime-jobs.js', import.meta.url));

/** The patches that bring a fresh job to each state shown. */
const STEPS = {
  queued: [],
  pending: [{ state: 'pending', message: 'Waiting for an admin to approve the push.' }],
  running: [{ state: 'running', phase: 'transferring', progress: 0.45, message: 'Sent 45 of 100 records' }],
  'running-indeterminate': [{ state: 'running', phase: 'connecting', message: 'Connecting to peer-a…' }],
  success: [{ state: 'running' }, { state: 'success', message: 'Pushed 100 records to peer-a.' }],
  warning: [{ state: 'running' }, { state: 'warning', message: '98 records pushed; 2 were skipped as unsigned.' }],
  error: [{ state: 'running' }, { state: 'error', message: 'peer-a refused the connection (ECONNREFUSED).' }],
  cancelled: [{ state: 'running' }, { state: 'cancelled', message: 'Cancelled by admin.' }],
};
const tile = { label: 'Push to peer-a', description: 'Sends local changes to the peer.' };

const registry = await createJobRegistry();
const tiles = [renderJobStatus(null, { ...tile, action: 'never', emptyMessage: 'Not pushed yet.' })];
const names = ['idle'];
for (const [name, patches] of Object.entries(STEPS)) {
  let job = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
  for (const patch of patches) job = await registry.update(job.id, patch);
  tiles.push(renderJobStatus(job, tile));
  names.push(name);
}
const page = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>jobs</title>
<meta name="realtime-jobs-endpoint" content="${PREFIX}">
<style>body{font:16px/1.4 system-ui,sans-serif;margin:24px;width:420px}job-status{margin-bottom:12px}</style>
</head><body>${tiles.join('')}<script type="module" src="/realtime-jobs.js"></script></body></html>`;

// The routes too, so the tiles connect and show no connection notice.
const routes = toNodeHandler(createJobsEndpoint(registry, { allowAnonymous: true }), { prefix: PREFIX });
const server = http.createServer((req, res) => {
  if (req.url?.startsWith(PREFIX)) return void routes(req, res, req);
  if (req.url === '/realtime-jobs.js')
    return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(page);
});
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
try {
  const tab = await browser.newPage({ viewport: { width: 480, height: 1800 } });
  await tab.goto(`http://127.0.0.1:${server.address().port}/`);
  await tab.waitForFunction(
    () =>
      [...document.querySelectorAll('job-status')].every((element) => element.shadowRoot?.querySelector('.rj-tile')),
    undefined,
    { timeout: 10_000 },
  );
  await mkdir(out, { recursive: true });
  const locators = await tab.locator('job-status').all();
  for (const [i, locator] of locators.entries()) {
    await locator.screenshot({ path: join(out, `job-status-${names[i]}.png`), animations: 'disabled' });
  }
  console.log(`${locators.length} screenshots written to ${out}`);
} finally {
  await browser.close();
  server.closeAllConnections();
  server.close();
  await registry.close();
}
