import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import type { JobPatch } from '../../src/core/validate.js';
import { renderJobStatus } from '../../src/html/render.js';
import { launchChromium } from '../support/browser.js';
import { pageHtml, ROOT, startTestServer } from './server.js';
import { ensureBundle, waitInPage } from './setup.js';

// Regenerates docs/screenshots/*.png from the real element in Chromium. Not part of the normal run:
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
});
