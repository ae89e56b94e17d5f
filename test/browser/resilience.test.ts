import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobFeedStateDetail } from '../../src/client/shared.js';
import { RESTART_MESSAGE } from '../../src/core/registry.js';
import { renderJobStatus } from '../../src/html/render.js';
import type { Job } from '../../src/protocol/job.js';
import { PREFIX, pageHtml, type StreamFailure, startTestServer } from './server.js';
import { bundleCrashServer, type ChildServer, startChildServer, useChromium, waitInPage } from './setup.js';

let context: BrowserContext;

useChromium((launched) => {
  context = launched;
});

/** The page's record of its shared feed, from the `job-feed-state` events. */
type FeedLog = Window & { feedLog: JobFeedStateDetail[] };

/** A page that sets the shared feed's options in the module that imports the bundle, and records its states. */
function configuredPage(body: string, feedOptions: string): string {
  return pageHtml(body).replace(
    '<script type="module" src="/realtime-jobs.js"></script>',
    `<script type="module">
      import { configureJobFeed } from '/realtime-jobs.js';
      window.feedLog = [];
      document.addEventListener('job-feed-state', (event) => window.feedLog.push(event.detail));
      configureJobFeed('${PREFIX}', ${feedOptions});
    </script>`,
  );
}

/** What the tile and its button show: the tile's state and `connection`, the connection part's words. */
const shown = (page: Page) =>
  page.evaluate(() => {
    const tile = document.querySelector('job-status');
    return {
      state: tile?.getAttribute('state'),
      connection: tile?.getAttribute('connection'),
      notice: tile?.shadowRoot?.querySelector('[part=connection]')?.textContent ?? null,
      buttonDisabled: document.querySelector<HTMLButtonElement>('#push')?.disabled,
    };
  });

// Short intervals keep the suite quick, yet long enough that a machine busy with other suites (two
// cores) does not miss "within two intervals" by its own delays; the server's heartbeat matches the
// page's (300 ms), and its `retry:` is long (5 s), so whatever reaches the page within two polling
// intervals came by polling.
const POLL_MS = 1000;
const HEARTBEAT_MS = 300;
const RETRY_MS = 5000;
const FEED_OPTIONS = `{ pollIntervalMs: ${POLL_MS}, heartbeatMs: ${HEARTBEAT_MS}, maxRetryMs: 1000 }`;

describe('the tile and its button when the stream fails, in Chromium, against a server in its own process', () => {
  let dir: string;
  let script: string;
  let child: ChildServer;
  let url: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'realtime-jobs-browser-'));
    script = await bundleCrashServer();
    env = { JSONL_PATH: join(dir, 'jobs.jsonl'), RETRY_MS: String(RETRY_MS), HEARTBEAT_MS: String(HEARTBEAT_MS) };
    child = await startChildServer(script, env);
    url = `http://127.0.0.1:${child.port}`;
  });

  // Each test starts with a working stream route, whatever the one before left (a failed refused
  // test may leave the server down: the next start brings it up with no failure set).
  afterEach(async () => {
    await control('/test/stream-failure/none').catch(() => {});
  });

  afterAll(async () => {
    await child?.kill();
    await rm(dir, { recursive: true, force: true });
    if (script) await rm(script, { force: true });
  });

  /** Drives the child server through its test routes. */
  async function control<T = unknown>(path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
    if (!response.ok) throw new Error(`${path} answered ${response.status}`);
    return (await response.json()) as T;
  }

  /** A page (served by the test, at the child's origin) with a tile and a button for `peer`'s pushes. */
  async function openTile(peer: string, feedOptions = FEED_OPTIONS): Promise<Page> {
    const page = await context.newPage();
    const html = configuredPage(
      `${renderJobStatus(null, { label: `Push to ${peer}`, action: 'sync-push', targetField: 'peer', target: peer })}
      <button id="push" data-job-control data-job-action="sync-push" data-job-target-field="peer" data-job-target="${peer}">Push now</button>`,
      feedOptions,
    );
    await page.route(`${url}/page-${peer}`, (route) => route.fulfill({ contentType: 'text/html', body: html }));
    await page.goto(`${url}/page-${peer}`);
    return page;
  }

  const streaming = () => (window as unknown as FeedLog).feedLog.at(-1)?.state === 'streaming';

  const failures: Array<[StreamFailure, string]> = [
    ['reset', 'the connection is reset mid-stream (and every new stream request too)'],
    ['404', 'the stream route answers 404'],
    ['500', 'the stream route answers 500'],
    ['502', 'a proxy answers 502 with an HTML page'],
    ['html', 'a proxy answers 200 with an HTML login page'],
    ['silent', 'the stream goes silent (a proxy holds it and passes nothing)'],
  ];

  for (const [failure, what] of failures) {
    it(`when ${what}: polls, shows the final state and unlocks the button within two intervals, then goes live again`, async () => {
      const peer = `peer-${failure}`;
      const job = await control<Job>('/test/jobs', { category: 'sync-push', target: { peer } });
      await control(`/test/jobs/${job.id}`, { state: 'running', message: 'Pushing…' });
      const page = await openTile(peer);
      await waitInPage(page, 'the stream live and the job running', () => {
        const running = document.querySelector('job-status')?.getAttribute('state') === 'running';
        return running && (window as unknown as FeedLog).feedLog.at(-1)?.state === 'streaming';
      });
      expect(await shown(page)).toEqual({ state: 'running', connection: 'live', notice: null, buttonDisabled: true });

      await control(`/test/stream-failure/${failure}`);
      await control(`/test/jobs/${job.id}`, { state: 'success', message: 'Pushed while the stream was down' });
      // A silent stream is only known dead once the watchdog gives up on it (2.5 heartbeats).
      const noticed = failure === 'silent' ? 2.5 * HEARTBEAT_MS : 0;
      await waitInPage(
        page,
        'the final state, by polling',
        () =>
          document.querySelector('job-status')?.getAttribute('state') === 'success' &&
          document.querySelector<HTMLButtonElement>('#push')?.disabled === false,
        undefined,
        noticed + 2 * POLL_MS,
      );
      expect(await shown(page)).toEqual({
        state: 'success',
        connection: 'polling',
        notice: `Live updates paused; checking every ${POLL_MS / 1000} s`,
        buttonDisabled: false,
      });

      await control('/test/stream-failure/none');
      await waitInPage(page, 'live again', streaming, undefined, 3 * RETRY_MS);
      expect(await shown(page)).toMatchObject({ connection: 'live', notice: null });
      await page.close();
    });
  }

  it('when the server is down (connection refused): offline, the final state within two intervals of its return, then live', async () => {
    const started = await control<Job>('/test/start-long');
    // The feed's own backoff cap (30 s), so the stream waits the server's `retry:` (3 s or more).
    const page = await openTile('peer-a', `{ pollIntervalMs: ${POLL_MS}, heartbeatMs: ${HEARTBEAT_MS} }`);
    await waitInPage(page, 'the stream live and the job running', () => {
      const running = document.querySelector('job-status')?.getAttribute('state') === 'running';
      return running && (window as unknown as FeedLog).feedLog.at(-1)?.state === 'streaming';
    });
    expect(await page.$eval('job-status', (element) => element.job?.id)).toBe(started.id);
    expect((await shown(page)).buttonDisabled).toBe(true);

    await child.kill();
    await waitInPage(
      page,
      'offline',
      () => document.querySelector('job-status')?.getAttribute('connection') === 'offline',
      undefined,
      2 * POLL_MS,
    );
    expect(await shown(page)).toMatchObject({ state: 'running', notice: 'Offline; retrying', buttonDisabled: true });

    // Started again on the same port and log: the job that was running is now `error`.
    child = await startChildServer(script, { ...env, PORT: String(new URL(url).port) });
    await waitInPage(
      page,
      'the final state, by polling',
      () =>
        document.querySelector('job-status')?.getAttribute('state') === 'error' &&
        document.querySelector<HTMLButtonElement>('#push')?.disabled === false,
      undefined,
      2 * POLL_MS,
    );
    expect(await shown(page)).toMatchObject({ connection: 'polling' });
    const message = await page.$eval(
      'job-status',
      (element) => element.shadowRoot?.querySelector('.rj-message')?.textContent,
    );
    expect(message).toBe(RESTART_MESSAGE);
    await waitInPage(page, 'live again', streaming, undefined, 15_000);
    expect(await shown(page)).toMatchObject({ connection: 'live', notice: null });
    await page.close();
  });
});

describe('a refused page in Chromium', () => {
  // Last in this file: the fake clock is installed for the whole browser context.
  it('stops on 401 and tells the page; nothing is retried in ten minutes of page time', async () => {
    const server = await startTestServer({ authorize: () => null, retryMs: 20 });
    try {
      server.page('/denied', configuredPage(renderJobStatus(null, { label: 'Push', action: 'sync-push' }), '{}'));
      const page = await context.newPage();
      await page.clock.install();
      await page.goto(`${server.url}/denied`);
      await waitInPage(page, 'denied', () => (window as unknown as FeedLog).feedLog.at(-1)?.state === 'denied');
      expect(server.streams.requests).toBe(1);
      const logged = await page.evaluate(() => (window as unknown as FeedLog).feedLog.length);
      // Every timer the page has set fires in this span: a retry or a poll would change the state at once.
      await page.clock.runFor(10 * 60_000);
      expect(await page.evaluate(() => (window as unknown as FeedLog).feedLog.length)).toBe(logged);
      expect(server.streams.requests).toBe(1);
      expect(await shown(page)).toMatchObject({ state: 'idle', connection: 'offline', notice: 'Live updates stopped' });
      await page.close();
    } finally {
      await server.close();
    }
  });
});
