// Takes docs/screenshots/job-status-*.png (one `<job-status>` tile in each state) and job-list.png
// (a `<job-list>` with an open detail), rendered by the built package (`renderJobStatus()`,
// `renderJobList()`, the browser bundles, the job routes) in real Chromium.
//   npm run screenshots                       (builds first)
//   SCREENSHOTS_DIR=/tmp/shots node scripts/screenshots.js   (elsewhere, from an existing build)
// The screenshots of the reference app are taken by examples/admin-app/screenshots.js.
import { mkdir, readFile } from 'node:fs/promises';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createJobRegistry, createJobsEndpoint } from 'realtime-jobs';
import { renderJobList, renderJobStatus } from 'realtime-jobs/html';
import { toNodeHandler } from 'realtime-jobs/node';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/support/chromium.js';

const PREFIX = '/api/admin/jobs';
const out = process.env.SCREENSHOTS_DIR ?? fileURLToPath(new URL('../docs/screenshots/', import.meta.url));
const bundle = await readFile(new URL('../dist/browser/realtime-jobs.js', import.meta.url));
const listBundle = await readFile(new URL('../dist/browser/realtime-jobs-list.js', import.meta.url));

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

// A list: jobs of several kinds, one failed with log lines (its detail is opened), one still running.
let deployed;
registry.define('deploy', async (ctx) => {
  await ctx.log('Deploy started');
  await ctx.progress(0.25, { message: 'Copied 312 of 1240 files' });
  deployed = ctx;
  await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
});
registry.define('import', async (ctx) => {
  await ctx.log(`Importing ${ctx.input.file}`);
  await ctx.log('The disk is full', { level: 'error' });
  throw Object.assign(new Error('No space left on the device'), { code: 'ENOSPC' });
});
registry.define('publish', async (ctx) => {
  if (!ctx.approval) ctx.awaitApproval(`Publish ${ctx.input.site}?`);
});
const pushed = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-b' } });
await registry.update(pushed.id, { state: 'running' });
await registry.update(pushed.id, { state: 'success', message: 'Pushed 100 records to peer-b.' });
const failed = await registry.run('import', { file: 'customers.csv' }, { target: { peer: 'crm' } });
await registry.run('publish', { site: 'docs' }, { target: { peer: 'docs' } });
await registry.run('deploy', { version: '2.4.0' }, { target: { peer: 'shop' } });
const pulling = await registry.enqueue({ category: 'sync-pull', target: { peer: 'peer-c' } });
await registry.update(pulling.id, { state: 'running', progress: 0.45, message: 'Received 45 of 100 records' });
while (!deployed || registry.get(failed.id)?.state !== 'error') await new Promise((r) => setTimeout(r, 10));

// The routes too, so the tiles and the list connect and show no connection notice.
const endpoint = createJobsEndpoint(registry, { allowAnonymous: true, authorizeAction: () => true });
const routes = toNodeHandler(endpoint, { prefix: PREFIX });
const answer = await endpoint.listPage(null, '?limit=6');
const listPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>jobs</title>
<meta name="realtime-jobs-endpoint" content="${PREFIX}">
<style>body{font:16px/1.4 system-ui,sans-serif;margin:24px;width:1100px}</style></head><body>
${renderJobList(answer.jobs, { label: 'Recent jobs', targetField: 'peer', limit: 6, next: answer.next, permissions: answer.permissions })}
<script type="module" src="/realtime-jobs-list.js"></script></body></html>`;
const server = http.createServer((req, res) => {
  if (req.url?.startsWith(PREFIX)) return void routes(req, res, req);
  const script = { '/realtime-jobs.js': bundle, '/realtime-jobs-list.js': listBundle }[req.url ?? ''];
  if (script) return void res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(req.url === '/list' ? listPage : page);
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

  const list = await browser.newPage({ viewport: { width: 1180, height: 1000 } });
  await list.goto(`http://127.0.0.1:${server.address().port}/list`);
  await list.locator(`job-list tr[data-job-id="${failed.id}"] .rj-toggle`).click();
  await list.locator('job-list .rj-log li[data-level=error]').waitFor();
  await list.mouse.move(0, 0);
  await list.locator('job-list').screenshot({ path: join(out, 'job-list.png'), animations: 'disabled' });
  console.log(`${locators.length + 1} screenshots written to ${out}`);
} finally {
  await browser.close();
  server.closeAllConnections();
  server.close();
  await registry.close();
}
