import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESTART_MESSAGE } from '../../src/core/registry.js';
import { renderJobStatus } from '../../src/html/render.js';
import { launchChromium } from '../support/browser.js';
import { PREFIX, pageHtml, startTestServer } from './server.js';
import { bundleCrashServer, type ChildServer, ensureBundle, startChildServer, until, waitInPage } from './setup.js';

let chromium: Awaited<ReturnType<typeof launchChromium>>;
let context: BrowserContext;

beforeAll(async () => {
  await ensureBundle();
  chromium = await launchChromium();
  context = chromium.context;
});

afterAll(async () => {
  await chromium?.close();
});

/** A page that sets the shared feed's options in the module that imports the bundle, and records its states. */
function configuredPage(body: string, feedOptions: string): string {
  return pageHtml(body).replace(
    '<script type="module" src="/realtime-jobs.js"></script>',
    `<script type="module">
      import { configureJobFeed } from '/realtime-jobs.js';
      window.feedStates = [];
      document.addEventListener('job-feed-state', (event) => window.feedStates.push(event.detail.state));
      configureJobFeed('${PREFIX}', ${feedOptions});
    </script>`,
  );
}

describe('resilience in Chromium', () => {
  let dir: string;
  let child: ChildServer | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'realtime-jobs-browser-'));
  });
  let script: string | null = null;
  afterAll(async () => {
    await child?.kill();
    await rm(dir, { recursive: true, force: true });
    if (script) await rm(script, { force: true });
  });

  it('reconnects after the server is killed mid-job and restarted, and shows the final state', async () => {
    script = await bundleCrashServer();
    const env = { JSONL_PATH: join(dir, 'jobs.jsonl') };
    child = await startChildServer(script, env);
    const url = `http://127.0.0.1:${child.port}`;
    const started = await (await fetch(`${url}/test/start-long`, { method: 'POST' })).json();

    const page = await context.newPage();
    // The child serves the routes and the bundle; the page itself comes from the test.
    const html = pageHtml(`
      ${renderJobStatus(null, { label: 'Push to peer-a', action: 'sync-push', targetField: 'peer', target: 'peer-a' })}
      <button id="push" data-job-control data-job-action="sync-push" data-job-target-field="peer" data-job-target="peer-a">Push now</button>`);
    await page.route(`${url}/crash`, (route) => route.fulfill({ contentType: 'text/html', body: html }));
    await page.goto(`${url}/crash`);
    await waitInPage(
      page,
      'tile running',
      () => document.querySelector('job-status')?.getAttribute('state') === 'running',
    );
    expect(await page.$eval('#push', (button) => (button as HTMLButtonElement).disabled)).toBe(true);
    expect(await page.$eval('job-status', (element) => element.job?.id)).toBe(started.id);

    await child.kill();
    child = await startChildServer(script, { ...env, PORT: String(new URL(url).port) });
    expect(child.port).toBe(Number(new URL(url).port));

    await waitInPage(
      page,
      'tile error after restart',
      () => document.querySelector('job-status')?.getAttribute('state') === 'error',
      undefined,
      20_000,
    );
    const message = await page.$eval(
      'job-status',
      (element) => element.shadowRoot?.querySelector('.rj-message')?.textContent,
    );
    expect(message).toBe(RESTART_MESSAGE);
    // The job ended while the connection was down: its button is enabled again.
    expect(await page.$eval('#push', (button) => (button as HTMLButtonElement).disabled)).toBe(false);
    await page.close();
  });

  it('stops on 401 and tells the page, without retrying', async () => {
    const server = await startTestServer({ authorize: () => null, retryMs: 20 });
    try {
      server.page('/denied', configuredPage(renderJobStatus(null, { label: 'Push', action: 'sync-push' }), '{}'));
      const page = await context.newPage();
      await page.goto(`${server.url}/denied`);
      await waitInPage(page, 'denied', () =>
        (window as never as { feedStates: string[] }).feedStates.includes('denied'),
      );
      const requests = server.streams.requests;
      expect(requests).toBe(1);
      // 25 of the server's retry periods: a feed that retried would have asked again by now.
      await page.waitForTimeout(500);
      expect(server.streams.requests).toBe(requests);
      expect(await page.locator('job-status').getAttribute('state')).toBe('idle');
      await page.close();
    } finally {
      await server.close();
    }
  });

  it('polls when the stream route fails, updates within two intervals, and streams again once it can', async () => {
    const server = await startTestServer();
    try {
      server.failStream = true;
      const job = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'poll' } });
      const pollIntervalMs = 700;
      server.page(
        '/poll',
        configuredPage(renderJobStatus(job, { label: 'Push (polled)' }), `{ pollIntervalMs: ${pollIntervalMs} }`),
      );
      const page = await context.newPage();
      await page.goto(`${server.url}/poll`);
      await waitInPage(page, 'the feed polls', () =>
        (window as never as { feedStates: string[] }).feedStates.includes('polling'),
      );
      expect(server.streams.requests).toBeGreaterThanOrEqual(2);

      await server.registry.update(job.id, { state: 'running', progress: 0.2, message: 'Seen by polling' });
      await waitInPage(
        page,
        'the polled update',
        () => document.querySelector('job-status')?.getAttribute('state') === 'running',
        undefined,
        2 * pollIntervalMs,
      );

      server.failStream = false;
      await waitInPage(
        page,
        'back to streaming',
        () => (window as never as { feedStates: string[] }).feedStates.at(-1) === 'streaming',
        undefined,
        15_000,
      );
      await until('a stream is open', () => server.streams.open === 1);
      await server.registry.update(job.id, { state: 'success', message: 'Streamed again' });
      await waitInPage(
        page,
        'the streamed update',
        () => document.querySelector('job-status')?.getAttribute('state') === 'success',
      );
      await page.close();
    } finally {
      await server.close();
    }
  });
});
