import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderJobList } from '../../src/html/render-list.js';
import { launchChromium } from '../support/browser.js';
import { defineTestJobs, listPageHtml, readRows, rowIds, upgraded } from './list-fixtures.js';
import { type ListRoutes, listPage, listRoutes } from './list-routes.js';
import { startTestServer, type TestServer } from './server.js';
import { ensureBundle, waitInPage } from './setup.js';

let server: TestServer;
let routes: ListRoutes;
let chromium: Awaited<ReturnType<typeof launchChromium>>;
let context: BrowserContext;
let jobs: ReturnType<typeof defineTestJobs>;

beforeAll(async () => {
  await ensureBundle();
  server = await startTestServer({
    routes: (registry) => {
      routes = listRoutes(registry);
      return routes.router;
    },
  });
  jobs = defineTestJobs(server.registry);
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
  page.on('console', (message) => {
    // Chromium asks for /favicon.ico on its own.
    if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) {
      errors.push(`${message.text()} ${message.location().url}`);
    }
  });
  await page.goto(`${server.url}${path}`);
  await upgraded(page);
  expect(errors).toEqual([]);
  return page;
}

describe('<job-list> in Chromium', () => {
  it('smoke: renders the rows of its category', async () => {
    const category = 'smoke';
    const a = await server.registry.enqueue({ category, target: { peer: 'a' }, message: 'first' });
    const b = await server.registry.enqueue({ category, target: { peer: 'b' }, message: 'second' });
    const page = await open('/smoke', listPageHtml(`<job-list category="${category}"></job-list>`));
    await waitInPage(page, 'two rows', () => document.querySelector('job-list')?.jobs.length === 2);
    expect(await rowIds(page)).toEqual([b.id, a.id]);
    expect((await readRows(page))[0]).toMatchObject({ state: 'Queued', category, cells: ['peer: b', 'second', ''] });
    await page.close();
  });
});

void listPage;
void renderJobList;
void jobs;
