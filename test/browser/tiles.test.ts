import { AxeBuilder } from '@axe-core/playwright';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobStatusElement } from '../../src/client/job-status/job-status.js';
import { renderJobStatus } from '../../src/html/render.js';
import { launchChromium } from '../support/browser.js';
import { times } from '../support/times.js';
import { waitFor } from '../support/wait.js';
import { pageHtml, startTestServer, type TestServer } from './server.js';
import { ensureBundle, waitInPage } from './setup.js';

let server: TestServer;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let context: BrowserContext;

beforeAll(async () => {
  await ensureBundle();
  server = await startTestServer();
  chromium = await launchChromium();
  context = chromium.context;
});

afterAll(async () => {
  await chromium?.close();
  await server?.close();
});

async function open(path: string, html: string): Promise<Page> {
  server.page(path, html);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${server.url}${path}`);
  await waitInPage(page, '<job-status> defined', () => customElements.get('job-status') !== undefined);
  expect(errors).toEqual([]);
  return page;
}

const stateOf = (page: Page, selector = 'job-status') => page.locator(selector).getAttribute('state');
const shadowText = (page: Page, selector: string) =>
  page.$eval(
    selector,
    // biome-ignore lint/performance/useDomNodeTextContent: innerText is the rendered text, what a reader sees
    (element) => (element.shadowRoot?.querySelector('.rj-tile') as HTMLElement | null)?.innerText ?? '',
  );

describe('<job-status> in Chromium', () => {
  it('goes queued → running (with progress) → success without a reload', async () => {
    const job = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'p1' } });
    const page = await open('/live', pageHtml(renderJobStatus(job, { label: 'Push to p1' })));
    const events: string[] = [];
    await page.exposeFunction('recordChange', (state: string) => events.push(state));
    await page.evaluate(() =>
      document.addEventListener('job-change', (event) =>
        (window as never as { recordChange(s: string): void }).recordChange(event.detail.job.state),
      ),
    );
    expect(await stateOf(page)).toBe('queued');
    await waitFor(() => server.streams.open === 1, 'the stream is open');

    await server.registry.update(job.id, {
      state: 'running',
      phase: 'transferring',
      progress: 0.4,
      message: 'Sent 4 of 10',
    });
    await waitInPage(
      page,
      'state running',
      () => document.querySelector('job-status')?.getAttribute('state') === 'running',
    );
    const bar = page.locator('job-status').getByRole('progressbar');
    await expect.poll(() => bar.getAttribute('value')).toBe('40');
    expect(await shadowText(page, 'job-status')).toContain('Sent 4 of 10');
    expect(await shadowText(page, 'job-status')).toContain('Phase: transferring');

    await server.registry.update(job.id, { progress: null });
    await expect.poll(() => bar.getAttribute('value')).toBeNull(); // indeterminate

    await server.registry.update(job.id, { state: 'success', message: 'Pushed 10 records' });
    await waitInPage(
      page,
      'state success',
      () => document.querySelector('job-status')?.getAttribute('state') === 'success',
    );
    const text = await shadowText(page, 'job-status');
    expect(text).toContain('Succeeded');
    expect(text).toContain('Pushed 10 records');
    expect(text).toMatch(/Finished/);
    expect(await page.locator('job-status').getByRole('progressbar').count()).toBe(0);
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, what a reader sees
    expect(await page.locator('job-status').getByRole('status').innerText()).toContain('Succeeded');
    await expect.poll(() => events).toEqual(['running', 'running', 'success']);
    await page.close();
  });

  it('picks up a job started after load when matched by action + target', async () => {
    const before = server.streams.requests;
    const page = await open(
      '/action',
      pageHtml(
        renderJobStatus(null, {
          label: 'Pull from p2',
          action: 'sync-pull',
          targetField: 'peer',
          target: 'p2',
          emptyMessage: 'Never pulled.',
        }),
      ),
    );
    expect(await stateOf(page)).toBe('idle');
    expect(await shadowText(page, 'job-status')).toContain('Never pulled.');
    await waitFor(() => server.streams.requests > before && server.streams.open >= 1, 'the stream is open');

    // As from another tab: a job for another peer first (must not show), then ours.
    await server.registry.enqueue({ category: 'sync-pull', target: { peer: 'p3' } });
    const job = await server.registry.enqueue({ category: 'sync-pull', target: { peer: 'p2' } });
    await server.registry.update(job.id, { state: 'running', progress: 0.5, message: 'Pulling…' });
    await waitInPage(
      page,
      'tile running',
      () => document.querySelector('job-status')?.getAttribute('state') === 'running',
    );
    expect(await shadowText(page, 'job-status')).toContain('Pulling…');

    // A newer job replaces it: the tile follows the newest by queuedAt.
    await server.registry.update(job.id, { state: 'error', message: 'Peer refused' });
    await waitInPage(page, 'tile error', () => document.querySelector('job-status')?.getAttribute('state') === 'error');
    const next = await server.registry.enqueue({ category: 'sync-pull', target: { peer: 'p2' } });
    await waitInPage(
      page,
      'tile follows the newer job',
      () => document.querySelector('job-status')?.getAttribute('state') === 'queued',
    );
    expect(await page.$eval('job-status', (element) => element.job?.id)).toBe(next.id);
    await page.close();
  });

  it('disables a [data-job-control] while its job is busy and enables it after; picks up controls added later', async () => {
    const page = await open(
      '/controls',
      pageHtml(`
        <form><button id="push" data-job-control data-job-action="sync-push" data-job-target-field="peer" data-job-target="p4">Push now</button></form>
        <button id="other" disabled data-job-control data-job-action="sync-push" data-job-target-field="peer" data-job-target="nobody">Push nobody</button>`),
    );
    const disabled = (id: string) => page.$eval(`#${id}`, (element) => (element as HTMLButtonElement).disabled);
    expect(await disabled('push')).toBe(false);
    await waitFor(() => server.streams.open >= 1, 'the stream is open');

    const job = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'p4' } });
    await expect.poll(() => disabled('push')).toBe(true);
    await page.evaluate(() => {
      const button = document.createElement('button');
      button.id = 'late';
      button.textContent = 'Push again';
      Object.assign(button.dataset, {
        jobControl: '',
        jobAction: 'sync-push',
        jobTargetField: 'peer',
        jobTarget: 'p4',
      });
      document.body.append(button);
    });
    await expect.poll(() => disabled('late')).toBe(true);

    await server.registry.update(job.id, { state: 'running' });
    await server.registry.update(job.id, { state: 'success' });
    await expect.poll(() => disabled('push')).toBe(false);
    await expect.poll(() => disabled('late')).toBe(false);
    expect(await page.$eval('#push', (element) => element.getAttribute('data-job-state'))).toBe('success');
    // No job ever matched this one: it keeps the state the server rendered.
    expect(await disabled('other')).toBe(true);
    await page.close();
  });

  it('shows a message full of HTML as text and runs none of it', async () => {
    const evil = '<img src=x onerror="window.__xss=1">';
    const job = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'p5' }, message: evil });
    const label = '"><script>window.__xss=2</script><b x=\'';
    const page = await open(
      '/xss',
      pageHtml(renderJobStatus(job, { label, description: '<i onmouseover=alert(1)>d</i>' })),
    );
    let dialogs = 0;
    page.on('dialog', (dialog) => {
      dialogs++;
      void dialog.dismiss();
    });
    await server.registry.update(job.id, { state: 'running', message: '<img src=x onerror=alert(1)>' });
    await waitInPage(
      page,
      'tile running',
      () => document.querySelector('job-status')?.getAttribute('state') === 'running',
    );
    const shadow = await page.$eval('job-status', (element) => ({
      message: element.shadowRoot?.querySelector('.rj-message')?.textContent,
      label: element.shadowRoot?.querySelector('.rj-label')?.textContent,
      images:
        document.querySelectorAll('img').length + (element.shadowRoot?.querySelectorAll('img, i, script').length ?? 0),
      lightImages: element.querySelectorAll('img, script, b, i').length,
    }));
    expect(shadow).toEqual({ message: '<img src=x onerror=alert(1)>', label, images: 0, lightImages: 0 });
    expect(await page.evaluate(() => (window as never as { __xss?: number }).__xss)).toBeUndefined();
    expect(dialogs).toBe(0);
    await page.close();
  });

  it('opens exactly one stream for 20 tiles and their controls; a wider tile added later reconnects without Last-Event-ID', async () => {
    // Narrow on purpose (two categories, one target field) so a later tile must widen the filter.
    const jobs = await times(
      10,
      async (i) => await server.registry.enqueue({ category: 'dedalus-verify', target: { key: `k${i}` } }),
    );
    const tiles = [
      ...jobs.map((job, i) =>
        renderJobStatus(job, { label: `Verify ${i}`, action: 'dedalus-verify', targetField: 'key', target: `k${i}` }),
      ),
      ...Array.from({ length: 10 }, (_, i) =>
        renderJobStatus(null, { label: `Save ${i}`, action: 'dedalus-save', targetField: 'key', target: `k${i}` }),
      ),
    ].join('');
    const controls =
      '<button data-job-control data-job-action="dedalus-save" data-job-target-field="key" data-job-target="k1">Save</button>';
    const before = server.streams.requests;
    const page = await open('/twenty', pageHtml(tiles + controls));
    expect(await page.locator('job-status').count()).toBe(20);
    await waitFor(() => server.streams.open >= 1, 'a stream is open');
    await server.registry.update(jobs[3]!.id, { state: 'running', message: 'Tile 3 moves' });
    await waitInPage(
      page,
      'tile 3 running',
      () => document.querySelectorAll('job-status')[3]?.getAttribute('state') === 'running',
    );
    expect(server.streams.requests - before).toBe(1);
    expect(server.streams.open).toBe(1);
    const url = new URL(server.streams.urls.at(-1)!, server.url);
    expect(url.searchParams.getAll('category').sort()).toEqual(['dedalus-save', 'dedalus-verify']);
    expect(url.searchParams.getAll('target.key')).toHaveLength(10);

    await page.evaluate(() => {
      const tile = document.createElement('job-status');
      tile.setAttribute('action', 'sync-pull');
      tile.setAttribute('label', 'Late tile');
      document.body.append(tile);
    });
    await waitFor(() => server.streams.requests - before === 2, 'the widened stream');
    expect(server.streams.lastEventIds.at(-1)).toBeUndefined();
    expect(server.streams.urls.at(-1)).toContain('category=sync-pull');
    const late = await server.registry.enqueue({ category: 'sync-pull', target: { peer: 'anywhere' } });
    await waitInPage(
      page,
      'late tile shows the job',
      (id) => document.querySelector<JobStatusElement>('job-status[label="Late tile"]')?.job?.id === id,
      late.id,
    );
    await waitFor(() => server.streams.open === 1, 'one stream open');
    await page.close();
  });

  it('hydrates server markup in place: same words, same box', async () => {
    const running = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'p6' } });
    await server.registry.update(running.id, {
      state: 'running',
      phase: 'transferring',
      progress: 0.3,
      message: 'Sent 3 of 10 records to the peer',
    });
    const done = await server.registry.enqueue({ category: 'sync-pull', target: { peer: 'p6' } });
    await server.registry.update(done.id, { state: 'running' });
    await server.registry.update(done.id, { state: 'warning', message: '2 records skipped' });
    const tiles = [
      renderJobStatus(server.registry.get(running.id)!, { label: 'Push to p6', description: 'Sends local changes' }),
      renderJobStatus(server.registry.get(done.id)!, {
        label: 'Pull from p6',
        action: 'sync-pull',
        targetField: 'peer',
        target: 'p6',
      }),
      renderJobStatus(null, { label: 'Verify', action: 'never-run', emptyMessage: 'Not verified yet.' }),
    ].join('');
    // The page loads without the element; the bundle comes later, as a slow script would.
    server.page('/hydrate', pageHtml(tiles).replace('<script type="module" src="/realtime-jobs.js"></script>', ''));
    const page = await context.newPage();
    await page.goto(`${server.url}/hydrate`);
    const measure = () =>
      page.$$eval('job-status', (elements) =>
        elements.map((element) => {
          const box = element.getBoundingClientRect();
          const root = element.shadowRoot ?? element;
          const words = (selector: string) => root.querySelector(selector)?.textContent ?? null;
          return {
            width: box.width,
            height: box.height,
            label: words('.rj-label'),
            badge: words('.rj-badge'),
            message: words('.rj-message'),
            progress: root.querySelector('progress')?.getAttribute('value') ?? null,
          };
        }),
      );
    const before = await measure();
    await page.addScriptTag({ url: '/realtime-jobs.js', type: 'module' });
    await waitInPage(page, 'upgraded', () =>
      [...document.querySelectorAll('job-status')].every((element) => element.shadowRoot?.querySelector('.rj-tile')),
    );
    const after = await measure();
    expect(after).toEqual(before);
    expect(before.map((tile) => tile.badge)).toEqual(['Running', 'Finished with warnings', 'Idle']);
    const axe = await new AxeBuilder({ page }).include('job-status').analyze();
    expect(axe.violations.map((violation) => `${violation.id}: ${violation.help}`)).toEqual([]);
    await page.close();
  });

  // Last in this describe: the fake clock is installed for the whole browser context.
  it('lets go of the stream while the tab is hidden and catches up when it is shown', async () => {
    const job = await server.registry.enqueue({ category: 'sync-pull', target: { peer: 'hidden-tab' } });
    server.page('/hidden', pageHtml(renderJobStatus(job, { label: 'Pull from hidden-tab' })));
    const page = await context.newPage();
    await page.clock.install();
    const before = server.streams.requests;
    await page.goto(`${server.url}/hidden`);
    await waitFor(() => server.streams.requests > before && server.streams.open === 1, 'the stream is open');
    const requests = server.streams.requests;
    // Headless Chromium has no background tabs: the page is told it is hidden the way a browser would.
    const setVisibility = (state: 'hidden' | 'visible') =>
      page.evaluate((value) => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => value });
        document.dispatchEvent(new Event('visibilitychange'));
      }, state);
    // A string, not a function: the test runner would rewrite a dynamic import inside a function.
    const feedState = () =>
      page.evaluate<string>("import('/realtime-jobs.js').then((bundle) => bundle.sharedJobFeed().state)");

    await setVisibility('hidden');
    await waitFor(() => server.streams.open === 0, 'the stream to close while hidden');
    await server.registry.update(job.id, { state: 'running', progress: 0.5 });
    await server.registry.update(job.id, { state: 'success', message: 'Pulled while nobody looked' });
    // A minute of page time: any timer that would reconnect or poll has fired, and none did.
    await page.clock.runFor(60_000);
    expect(await feedState()).toBe('paused');
    expect(await stateOf(page)).toBe('queued');
    expect(server.streams.requests).toBe(requests);

    await setVisibility('visible');
    await waitInPage(
      page,
      'the tile to catch up',
      () => document.querySelector('job-status')?.getAttribute('state') === 'success',
    );
    expect(await shadowText(page, 'job-status')).toContain('Pulled while nobody looked');
    await waitFor(() => server.streams.open === 1, 'the stream to reopen');
    await page.close();
  });
});

describe('server markup with JavaScript off', () => {
  it('shows the state in words', async () => {
    const job = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'p7' } });
    await server.registry.update(job.id, { state: 'running', progress: 0.6, message: 'Sending batch 6 of 10' });
    await server.registry.update(job.id, { state: 'error', message: 'Peer p7 refused the connection' });
    const finished = server.registry.get(job.id)!;
    const waiting = await server.registry.enqueue({
      category: 'sync-pull',
      target: { peer: 'p7' },
      state: 'pending',
      message: 'Needs approval',
    });
    server.page(
      '/nojs',
      pageHtml(
        renderJobStatus(finished, { label: 'Push to p7' }) +
          renderJobStatus(waiting, { label: 'Pull from p7' }) +
          renderJobStatus(null, { label: 'Verify', action: 'dedalus-verify', emptyMessage: 'Not verified yet.' }),
      ),
    );
    const noJs = await launchChromium({ javaScriptEnabled: false });
    try {
      const page = await noJs.context.newPage();
      await page.goto(`${server.url}/nojs`);
      const texts = await page.locator('job-status').allInnerTexts();
      expect(texts[0]).toContain('Push to p7');
      expect(texts[0]).toContain('Failed');
      expect(texts[0]).toContain('Peer p7 refused the connection');
      expect(texts[0]).toMatch(/Finished \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/);
      expect(texts[1]).toContain('Waiting for approval');
      expect(texts[1]).toContain('Needs approval');
      expect(texts[2]).toContain('Idle');
      expect(texts[2]).toContain('Not verified yet.');
      // Styled, not a run of inline text: the tile is a block with its border.
      const style = await page.$eval('job-status', (element) => getComputedStyle(element).display);
      expect(style).toBe('block');
    } finally {
      await noJs.close();
    }
  });
});
