// The reference app in 10 tabs of one Chromium over plain HTTP/1.1 (at most 6 connections per host):
// the tabs share one job stream, so the other pages of the app still load; closing the tab that holds
// the stream moves it to another tab within a second, and every tab follows the push to its end.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.js';
import { type ForwardingProxy, startForwardingProxy } from '../support/forwarding-proxy.js';
import { waitFor } from '../support/wait.js';
import {
  freePort,
  type Instance,
  logIn,
  startDedalusStandIn,
  startInstance,
  tempDir,
  tileSelector,
  waitForTileState,
} from './harness.js';

const PUSH_TILE = tileSelector('sync-push', 'peer', 'peer-b');

describe('reference app: 10 tabs, one job stream (HTTP/1.1)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let standIn: Awaited<ReturnType<typeof startDedalusStandIn>>;
  let app: Instance;
  let proxy: ForwardingProxy;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    dir = await tempDir();
    standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
    app = await startInstance({
      name: 'peer-a',
      port: await freePort(),
      dataDir: dir.path,
      peers: { 'peer-b': await freePort() },
      dedalusUrl: standIn.url,
    });
    // Plain HTTP/1.1 through a proxy that records every request: it counts the job streams.
    proxy = await startForwardingProxy({ target: app.port });
    chromium = await launchChromium();
  });

  afterAll(async () => {
    await chromium?.close();
    await proxy?.close();
    await app?.stop();
    await standIn?.close();
    await dir?.remove();
  });

  const streamRequests = () => proxy.requests.filter((request) => request.url.startsWith('/api/admin/jobs/events'));

  it('the tabs share one stream, page loads do not stall, and closing the leading tab hands over', async () => {
    const first = await chromium.context.newPage();
    await logIn(first, proxy.url);
    await first.locator(PUSH_TILE).waitFor();
    await waitFor(() => streamRequests().length === 1, 'the first tab opens the stream');
    const tabs: Page[] = [first];
    for (let i = 1; i < 10; i++) {
      const tab = await chromium.context.newPage();
      await tab.goto(`${proxy.url}/admin/sync-control`, { timeout: 5000 });
      tabs.push(tab);
    }
    // Give a tab that would open its own stream the time to do so.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(streamRequests()).toHaveLength(1);

    // Another page of the app loads at once: five of the six connections are free.
    const started = Date.now();
    const other = await chromium.context.newPage();
    await other.goto(`${proxy.url}/admin/records`, { timeout: 5000 });
    expect(Date.now() - started).toBeLessThan(2000);
    await other.close();

    // The leading tab closes: another one opens the stream within a second, resuming exactly.
    const closedAt = Date.now();
    await first.close();
    await waitFor(() => streamRequests().length === 2, 'a follower opens the stream', 1000);
    expect(Date.now() - closedAt).toBeLessThan(1000);
    expect(streamRequests()[1]?.headers['last-event-id']).toBeTruthy();

    // A push from one tab: the nine left follow it to its end (peer-b is down: it ends in error).
    const pusher = tabs[5] as Page;
    await pusher.getByRole('button', { name: 'Push now' }).click();
    for (const tab of tabs.slice(1)) await waitForTileState(tab, PUSH_TILE, ['error', 'warning', 'success']);
    expect(streamRequests()).toHaveLength(2);
  });
});
