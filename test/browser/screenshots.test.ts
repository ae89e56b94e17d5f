import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import type { JobPatch } from '../../src/core/validate.js';
import { renderJobStatus } from '../../src/html/render.js';
import { renderJobList } from '../../src/html/render-list.js';
import type { JobListAnswer } from '../../src/protocol/actions.js';
import { launchChromium } from '../support/browser.js';
import { waitFor } from '../support/wait.js';
import { defineTestJobs, listPageHtml, upgraded } from './list-fixtures.js';
import { listRoutes } from './list-routes.js';
import { PREFIX, pageHtml, ROOT, startTestServer } from './server.js';
import { ensureBundle, waitInPage } from './setup.js';

// Regenerates docs/screenshots/*.png from the real elements in Chromium. Not part of the normal run:
// UPDATE_SCREENSHOTS=1 npx vitest run test/browser/screenshots.test.ts
describe.skipIf(!process.env.UPDATE_SCREENSHOTS)('docs screenshots', () => {
  it('shoots a tile in each state', async () => {
    await ensureBundle();
    const server = await startTestServer();
    const chromium = await launchChromium();
    try {
      const steps: Record<string, JobPatch[]> = {
        queued: [],
        pending: [{ state: 'pending', message: 'Waiting for an admin to approve the push.' }],
        running: [{ state: 'running', phase: 'transferring', progress: 0.45, message: 'Sent 45 of 100 records' }],
        'running-indeterminate': [{ state: 'running', phase: 'connecting', message: 'Connecting to peer-a…' }],
        success: [{ state: 'running' }, { state: 'success', message: 'Pushed 100 records to peer-a.' }],
        warning: [
          { state: 'running' },
          { state: 'warning', message: '98 records pushed; 2 were skipped as unsigned.' },
        ],
        error: [{ state: 'running' }, { state: 'error', message: 'peer-a refused the connection (ECONNREFUSED).' }],
        cancelled: [{ state: 'running' }, { state: 'cancelled', message: 'Cancelled by admin.' }],
      };
      const tiles = [
        renderJobStatus(null, {
          label: 'Push to peer-a',
          description: 'Sends local changes to the peer.',
          action: 'never',
          emptyMessage: 'Not pushed yet.',
        }),
      ];
      const names = ['idle'];
      for (const [name, patches] of Object.entries(steps)) {
        let job = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
        for (const patch of patches) job = await server.registry.update(job.id, patch);
        tiles.push(renderJobStatus(job, { label: 'Push to peer-a', description: 'Sends local changes to the peer.' }));
        names.push(name);
      }
      server.page('/shots', pageHtml(tiles.join('')));
      const page = await chromium.context.newPage();
      await page.setViewportSize({ width: 480, height: 1800 });
      await page.goto(`${server.url}/shots`);
      await waitInPage(page, 'upgraded', () =>
        [...document.querySelectorAll('job-status')].every((tile) => tile.shadowRoot?.querySelector('.rj-tile')),
      );
      const dir = join(ROOT, 'docs', 'screenshots');
      await mkdir(dir, { recursive: true });
      const locators = await page.locator('job-status').all();
      for (const [i, locator] of locators.entries()) {
        await locator.screenshot({ path: join(dir, `job-status-${names[i]}.png`), animations: 'disabled' });
      }
    } finally {
      await chromium.close();
      await server.close();
    }
  });

  it('shoots a job list with an open detail', async () => {
    await ensureBundle();
    const server = await startTestServer({
      // Until the real list, detail, log and action routes serve them: the stand-ins of list-routes.ts.
      routes: (registry) => listRoutes(registry, { authorizeAction: () => () => true }).router,
    });
    const chromium = await launchChromium();
    try {
      const { registry } = server;
      const jobs = defineTestJobs(registry);
      const pushed = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-a' } });
      await registry.update(pushed.id, { state: 'running' });
      await registry.update(pushed.id, { state: 'success', message: 'Pushed 100 records to peer-a.' });
      const pulled = await registry.enqueue({ category: 'sync-pull', target: { peer: 'peer-c' } });
      await registry.update(pulled.id, { state: 'running' });
      await registry.update(pulled.id, { state: 'warning', message: '98 records pulled; 2 were skipped as unsigned.' });
      const failed = await registry.run('import', { file: 'customers.csv' }, { target: { source: 'crm' } });
      await waitFor(() => registry.get(failed.id)?.state === 'error', 'the import fails');
      await registry.run('publish', { site: 'docs' }, { target: { site: 'docs' } });
      const deploy = await registry.run('deploy', { version: '2.4.0' }, { target: { site: 'shop' } });
      await waitFor(() => registry.get(deploy.id)?.progress === 0.25, 'the deploy runs');
      await jobs.tail(deploy.id).log('Copied 312 of 1240 files');
      const pushing = await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-b' } });
      await registry.update(pushing.id, { state: 'running', progress: 0.45, message: 'Sent 45 of 100 records' });
      await registry.enqueue({ category: 'sync-push', target: { peer: 'peer-d' }, message: 'Waiting for a slot' });
      const answer = (await (await fetch(`${server.url}${PREFIX}?limit=7`)).json()) as JobListAnswer;
      const list = renderJobList(answer.jobs, {
        label: 'Recent jobs',
        targetField: 'peer',
        limit: 7,
        next: answer.next,
        permissions: answer.permissions,
      });
      server.page('/list-shot', listPageHtml(list));
      const page = await chromium.context.newPage();
      await page.setViewportSize({ width: 1180, height: 1000 });
      await page.goto(`${server.url}/list-shot`);
      await upgraded(page);
      await page.locator(`job-list tr[data-job-id="${failed.id}"] .rj-toggle`).click();
      await waitInPage(page, 'the detail', () =>
        document.querySelector('job-list')?.shadowRoot?.querySelector('.rj-log li[data-level=error]'),
      );
      await page.mouse.move(0, 0);
      const dir = join(ROOT, 'docs', 'screenshots');
      await mkdir(dir, { recursive: true });
      await page.locator('job-list').screenshot({ path: join(dir, 'job-list.png'), animations: 'disabled' });
    } finally {
      await chromium.close();
      await server.close();
    }
  });
});
