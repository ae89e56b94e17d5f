// One stream for all tabs of an origin, in Chromium over plain HTTP/1.1 (a browser opens at most 6
// connections per host): 10 tabs of one browser follow a job live through one stream, other page loads
// do not stall, and closing the leading tab moves the stream to another tab within a second, with no
// update lost.
import type { BrowserContext, Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { renderJobStatus } from '../../src/html/render.js';
import type { Job } from '../../src/protocol/job.js';
import { waitFor } from '../support/wait.js';
import { PREFIX, pageHtml, startTestServer, type TestServer } from './server.js';
import { useChromium, waitInPage } from './setup.js';

let context: BrowserContext;
let server: TestServer;

useChromium((launched) => {
  context = launched;
});

afterEach(async () => {
  for (const page of context.pages()) await page.close();
  await server?.close();
});

type Seen = { version: number; progress: number | null; state: string };
type TabWindow = Window & { seen: Seen[]; feedState(): string };

/** A tab with a tile for `job` that records every version of it the page's shared feed delivers. */
function tabPage(job: Job, share: boolean): string {
  return pageHtml(renderJobStatus(job, { label: 'Push' })).replace(
    '<script type="module" src="/realtime-jobs.js"></script>',
    `<script type="module">
      import { configureJobFeed, sharedJobFeed } from '/realtime-jobs.js';
      configureJobFeed('${PREFIX}', { shareAcrossTabs: ${share} });
      window.seen = [];
      window.feedState = () => sharedJobFeed().state;
      sharedJobFeed().subscribe({ jobId: '${job.id}' }, (job) =>
        window.seen.push({ version: job.version, progress: job.progress, state: job.state }),
      );
    </script>`,
  );
}

async function openTab(path: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${server.url}${path}`);
  return page;
}

const seenIn = (page: Page) => page.evaluate(() => (window as unknown as TabWindow).seen);

/** The versions a tab saw, each one newer by exactly one: nothing skipped, nothing twice. */
function expectNoGap(seen: Seen[]): void {
  const versions = seen.map((entry) => entry.version);
  const first = versions[0] ?? 0;
  expect(versions).toEqual(versions.map((_, index) => first + index));
}

/** Loads a page of the same origin that has nothing to do with jobs; resolves with how long it took. */
async function plainLoad(timeout: number): Promise<number> {
  const started = Date.now();
  const page = await context.newPage();
  await page.goto(`${server.url}/plain`, { timeout });
  return Date.now() - started;
}

describe('one stream for all tabs, in Chromium over HTTP/1.1', () => {
  it('10 tabs follow a push through one stream; a page load does not stall; closing the leader hands over within a second, nothing lost', async () => {
    // Every update goes out (no coalescing of quick progress updates): each tab must see each version.
    server = await startTestServer({ throttleMs: 0 });
    const job = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'p1' } });
    server.page('/tab', tabPage(job, true));
    server.page('/plain', '<!doctype html><title>plain</title><p>Nothing about jobs here.');

    // The first tab takes the lock and opens the stream; the other nine follow it.
    const leader = await openTab('/tab');
    await waitInPage(
      leader,
      'the first tab streams',
      () => (window as unknown as TabWindow).feedState() === 'streaming',
    );
    const followers = await Promise.all(Array.from({ length: 9 }, () => openTab('/tab')));
    const tabs = [leader, ...followers];
    for (const tab of tabs) {
      expect(await tab.evaluate(() => document.visibilityState)).toBe('visible');
      await waitInPage(tab, 'the tab holds the job and is streaming', () => {
        const win = window as unknown as TabWindow;
        return win.feedState() === 'streaming' && win.seen.length > 0;
      });
    }
    expect(server.streams.requests).toBe(1);
    expect(server.streams.open).toBe(1);

    // Six streams would have taken every connection to this host; one leaves five.
    expect(await plainLoad(5000)).toBeLessThan(2000);

    // A push, followed live by every tab.
    await server.registry.update(job.id, { state: 'running', progress: 0 });
    for (let step = 1; step <= 4; step++) await server.registry.update(job.id, { progress: step / 10 });
    for (const tab of tabs) {
      await waitInPage(
        tab,
        'progress 0.4 reached the tab',
        () => (window as unknown as TabWindow).seen.at(-1)?.progress === 0.4,
      );
    }

    // The leader closes while the push goes on: another tab opens the stream within a second, resuming
    // from the last event id the tabs saw.
    const requestsBefore = server.streams.requests;
    const pushing = (async () => {
      for (let step = 5; step <= 9; step++) {
        await server.registry.update(job.id, { progress: step / 10 });
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
    })();
    const closedAt = Date.now();
    await leader.close();
    await waitFor(() => server.streams.requests > requestsBefore, 'a follower opens the stream', 1000);
    expect(Date.now() - closedAt).toBeLessThan(1000);
    expect(server.streams.lastEventIds.at(-1)).toBeDefined();
    await pushing;
    await server.registry.update(job.id, { state: 'success', progress: 1, message: 'Pushed' });

    for (const tab of followers) {
      await waitInPage(
        tab,
        'the tab saw success',
        () => (window as unknown as TabWindow).seen.at(-1)?.state === 'success',
      );
      const seen = await seenIn(tab);
      expectNoGap(seen);
      expect(seen.map((entry) => entry.progress).filter((progress) => progress !== null && progress >= 0.4)).toEqual([
        0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1,
      ]);
      expect(await tab.locator('job-status').getAttribute('state')).toBe('success');
    }
    await waitFor(() => server.streams.open === 1, 'one stream open after the hand-over');
    expect(server.streams.requests).toBe(requestsBefore + 1);
  });

  it('without sharing, six tabs take every connection and the next page load stalls (what sharing prevents)', async () => {
    server = await startTestServer();
    const job = await server.registry.enqueue({ category: 'sync-push', target: { peer: 'p1' } });
    server.page('/tab', tabPage(job, false));
    server.page('/plain', '<!doctype html><title>plain</title><p>Nothing about jobs here.');
    await Promise.all(Array.from({ length: 6 }, () => openTab('/tab')));
    await waitFor(() => server.streams.open === 6, 'six streams open');
    await expect(plainLoad(3000)).rejects.toThrow(/Timeout/);
  });
});
