import express from 'express';
import type { Page } from 'playwright-core';
import type { JobRegistry } from '../../src/core/registry.js';
import type { JobContext } from '../../src/core/runner.js';
import type { JobListAnswer } from '../../src/protocol/actions.js';
import type { Job } from '../../src/protocol/job.js';
import type { JobAction } from '../../src/protocol/wire.js';
import { launchChromium } from '../support/browser.js';
import { PREFIX, startTestServer } from './server.js';
import { ensureBundle } from './setup.js';

/** A page around some body markup, loading the list bundle (or none, to load it later). */
export function listPageHtml(body: string, script: string | null = '/realtime-jobs-list.js'): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>jobs</title>
<meta name="realtime-jobs-endpoint" content="${PREFIX}">
<style>body{font:16px/1.4 system-ui,sans-serif;margin:24px;width:1100px}</style>
</head><body><main>${body}</main>${script ? `<script type="module" src="${script}"></script>` : ''}</body></html>`;
}

/**
 * Job definitions with work the tests steer: `deploy` runs until cancelled (and logs), `import` fails,
 * `publish` waits for approval, then succeeds with a result. `tail(id)` is the running work's context,
 * to write log lines from the test.
 */
export function defineTestJobs(registry: JobRegistry): { tail(id: string): JobContext } {
  const running = new Map<string, JobContext>();
  registry.define('deploy', async (ctx) => {
    running.set(ctx.jobId, ctx);
    await ctx.log('Deploy started');
    await ctx.progress(0.25, { message: 'Copying files' });
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    return { copied: 1 };
  });
  registry.define('import', async (ctx) => {
    await ctx.log(`Importing ${String(ctx.input.file)}`);
    await ctx.log('The disk is full', { level: 'error' });
    throw Object.assign(new Error('No space left on the device'), { code: 'ENOSPC' });
  });
  registry.define('publish', async (ctx) => {
    if (!ctx.approval) {
      ctx.awaitApproval(`Publish ${String(ctx.input.site)}?`);
      return;
    }
    return { published: true, by: ctx.approval.by };
  });
  return {
    tail(id) {
      const ctx = running.get(id);
      if (!ctx) throw new Error(`job ${id} is not running`);
      return ctx;
    },
  };
}

/** What the table of the `<job-list>` shows (shadow or server markup), row by row. */
export function readRows(page: Page, selector = 'job-list') {
  return page.$eval(selector, (list) => {
    const root = list.shadowRoot ?? list;
    return [...root.querySelectorAll('tbody tr[data-job-id]')].map((row) => ({
      id: row.getAttribute('data-job-id'),
      state: row.querySelector('.rj-badge')?.textContent ?? null,
      category: row.querySelector('th')?.textContent ?? null,
      cells: [...row.querySelectorAll('td')].slice(1, 4).map((cell) => cell.textContent),
    }));
  });
}

export const rowIds = async (page: Page) => (await readRows(page)).map((row) => row.id);

/** Waits for the element to have upgraded and rendered its table. */
export async function upgraded(page: Page): Promise<void> {
  await page.waitForFunction(() => document.querySelector('job-list')?.shadowRoot?.querySelector('table'), null, {
    timeout: 10_000,
    polling: 50,
  });
}

/**
 * What the tests steer and watch on the server, in front of the job routes (whichever serve them):
 * who may act, actions held in flight or refused with given words, and the requests that came.
 */
/** Who may do what: `authorizeAction` of the contract, for the one test user. */
export type AuthorizeAction = (action: JobAction, job: Job) => boolean;

export interface TestHooks {
  /** The test user's `authorizeAction`; null turns actions off. */
  authorizeAction: AuthorizeAction | null;
  /** Refuses an action (403) with these words before the routes see it: null lets it through. */
  refuse: ((action: string, jobId: string) => string | null) | null;
  /** Holds every action request until the returned function is called (to see buttons in flight). */
  hold(): () => void;
  /** Action requests received, as `<action> <jobId>`. */
  readonly actions: string[];
  /** List requests received: their query strings. */
  readonly lists: URLSearchParams[];
}

function testHooks(): TestHooks & { router: express.Router } {
  let gate: Promise<void> | null = null;
  const router = express.Router();
  const hooks = {
    router,
    authorizeAction: (() => true) as AuthorizeAction | null,
    refuse: null as TestHooks['refuse'],
    actions: [] as string[],
    lists: [] as URLSearchParams[],
    hold() {
      let release = () => {};
      gate = new Promise((resolve) => {
        release = () => {
          gate = null;
          resolve();
        };
      });
      return release;
    },
  };
  router.get('/', (req, _res, next) => {
    hooks.lists.push(new URL(req.originalUrl, 'http://x').searchParams);
    next();
  });
  router.post('/:id/:action', async (req, res, next) => {
    hooks.actions.push(`${req.params.action} ${req.params.id}`);
    await gate;
    const refusal = hooks.refuse?.(req.params.action, req.params.id);
    if (refusal) return void res.status(403).json({ error: { code: 'forbidden', message: refusal } });
    next();
  });
  return hooks;
}

/**
 * A test server with the job routes, test hooks and the test jobs, and a Chromium: what both list
 * suites use. `actions: false` makes the routes without `authorizeAction` (no actions, no permissions).
 */
export async function startListFixture({ actions = true } = {}) {
  await ensureBundle();
  const hooks = testHooks();
  const server = await startTestServer({
    routes: () => hooks.router,
    ...(actions ? { authorizeAction: (_who, action, job) => hooks.authorizeAction?.(action, job) ?? false } : {}),
  });
  const jobs = defineTestJobs(server.registry);
  const chromium = await launchChromium();
  return {
    server,
    hooks: hooks as TestHooks,
    jobs,
    context: chromium.context,
    /** What `GET {prefix}?{query}` answers, as a page would ask for its server markup. */
    async fetchPage(query: string | URLSearchParams): Promise<JobListAnswer> {
      const response = await fetch(`${server.url}${PREFIX}?${query}`);
      if (!response.ok) throw new Error(`the list answered ${response.status}: ${await response.text()}`);
      return (await response.json()) as JobListAnswer;
    },
    /** Serves `html` at `path` and opens it; fails on any page error or console error. */
    async open(path: string, html: string): Promise<Page> {
      server.page(path, html);
      const page = await chromium.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('console', (message) => {
        // Chromium asks for /favicon.ico on its own.
        if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) {
          errors.push(`${message.text()} ${message.location().url}`);
        }
      });
      await page.goto(`${server.url}${path}`);
      await upgraded(page);
      if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
      return page;
    },
    async close() {
      await chromium.close();
      await server.close();
    },
  };
}

/** A job's row in the shadow table (Playwright's CSS pierces shadow roots). */
export const row = (page: Page, id: string) => page.locator(`job-list tr[data-job-id="${id}"]`);

/** What has focus inside the list: the focused element's tag, text or name, and its row. */
export function focused(page: Page) {
  return page.evaluate(() => {
    const element = document.querySelector('job-list')?.shadowRoot?.activeElement as HTMLElement | null;
    if (!element) return null;
    const name = element.getAttribute('aria-label') ?? element.getAttribute('name') ?? element.textContent?.trim();
    return {
      tag: element.tagName.toLowerCase(),
      name,
      row: element.closest('tr')?.getAttribute('data-job-id') ?? null,
    };
  });
}

let lastQueuedAt = 0;
/**
 * Waits until the clock has passed the last job this made, then runs `start`: jobs queued in the same
 * millisecond are paged by id (random), so tests that expect an order give each job its own time.
 */
export async function apart<T>(start: () => Promise<T>): Promise<T> {
  while (Date.now() <= lastQueuedAt) await new Promise((resolve) => setTimeout(resolve, 1));
  const result = await start();
  lastQueuedAt = Date.now();
  return result;
}
