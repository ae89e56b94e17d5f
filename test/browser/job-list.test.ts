import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listQueryString } from '../../src/html/list-view.js';
import { readJobListQuery, renderJobList } from '../../src/html/render-list.js';
import { launchChromium } from '../support/browser.js';
import { waitFor } from '../support/wait.js';
import { apart, focused, listPageHtml, readRows, row, rowIds, startListFixture, upgraded } from './list-fixtures.js';
import { waitInPage } from './setup.js';

let fixture: Awaited<ReturnType<typeof startListFixture>>;
beforeAll(async () => {
  fixture = await startListFixture();
});
afterAll(async () => {
  await fixture?.close();
});

const enqueue = (category: string, peer: string, message?: string) =>
  apart(() => fixture.server.registry.enqueue({ category, target: { peer }, ...(message ? { message } : {}) }));
/** Runs in the page, with the count as its argument. */
const rowCount = (count: number) => document.querySelector('job-list')?.jobs.length === count;

describe('<job-list> in Chromium', () => {
  it('hydrates the server markup in place: the same rows in the same box, without asking for the page again', async () => {
    const { server, hooks, context, fetchPage } = fixture;
    const category = 'hydrate';
    await enqueue(category, 'h0', 'The oldest, on the next page');
    const running = await enqueue(category, 'h1');
    await server.registry.update(running.id, { state: 'running', progress: 0.4, message: 'Copying 4 of 10' });
    const waiting = await enqueue(category, 'h2', 'Waiting its turn');
    const answer = await fetchPage(new URLSearchParams({ category, limit: '2' }));
    const html = renderJobList(answer.jobs, { category, limit: 2, next: answer.next, permissions: answer.permissions });
    // The page loads without the element; the bundle comes later, as a slow script would.
    server.page('/hydrate', listPageHtml(html, null));
    const page = await context.newPage();
    await page.goto(`${server.url}/hydrate`);
    const measure = () =>
      page.$eval('job-list', (list) => {
        const root = list.shadowRoot ?? list;
        const text = (selector: string) => root.querySelector(selector)?.textContent ?? null;
        return {
          height: list.getBoundingClientRect().height,
          caption: text('caption'),
          headings: [...root.querySelectorAll('thead th')].map((th) => th.textContent),
          pages: text('nav'),
          actions: [...root.querySelectorAll('.rj-actions button')].map((button) => button.textContent),
          progress: root.querySelector('progress')?.getAttribute('value') ?? null,
        };
      });
    const before = { ...(await measure()), rows: await readRows(page) };
    const lists = hooks.lists.length;
    await page.addScriptTag({ url: '/realtime-jobs-list.js', type: 'module' });
    await upgraded(page);
    await waitFor(() => server.streams.open >= 1, 'the shared feed is live');
    const after = { ...(await measure()), rows: await readRows(page) };
    // The server's times are UTC, said once in the heading; the element's are the reader's local time.
    expect(before.headings[5]).toBe('Queued (UTC)');
    expect(after).toEqual({ ...before, headings: before.headings.with(5, 'Queued') });
    expect(before.rows.map((each) => [each.id, each.state])).toEqual([
      [waiting.id, 'Queued'],
      [running.id, 'Running'],
    ]);
    expect(after.headings).toEqual([
      'State',
      'Category',
      'Target',
      'Message',
      'Progress',
      'Queued',
      'Duration',
      'Actions',
    ]);
    expect(before.actions).toEqual(['Cancel', 'Cancel']);
    expect(before.progress).toBe('40');
    // The element took the server's page: it asked the list route for nothing.
    expect(hooks.lists.length).toBe(lists);
    // Local time in the cell, UTC on hover.
    const time = await page.$eval('job-list', (list) => {
      const element = list.shadowRoot?.querySelector('tbody time');
      return { text: element?.textContent, title: element?.getAttribute('title') };
    });
    expect(time.text).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    expect(time.title).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    await page.close();
  });

  it('updates a row when its job changes state, and adds new jobs on top without moving the focus', async () => {
    const { server, open } = fixture;
    const category = 'live';
    const first = await enqueue(category, 'l1', 'first');
    const second = await enqueue(category, 'l2', 'second');
    const before = server.streams.requests;
    const tile = `<job-status action="${category}" label="Latest"></job-status>`;
    const page = await open('/live', listPageHtml(`${tile}<job-list category="${category}"></job-list>`));
    await waitInPage(page, 'two rows', rowCount, 2);
    await waitFor(() => server.streams.open >= 1, 'the shared feed is live');
    // The tile and the list share the page's one connection.
    expect(server.streams.requests - before).toBe(1);
    await row(page, first.id).locator('.rj-toggle').focus();

    await server.registry.update(first.id, { state: 'running', message: 'Working' });
    await expect.poll(async () => (await readRows(page)).find((each) => each.id === first.id)?.state).toBe('Running');
    await server.registry.enqueue({ category: 'elsewhere', target: { peer: 'l3' } });
    const third = await enqueue(category, 'l3', 'third');
    await expect.poll(() => rowIds(page)).toEqual([third.id, second.id, first.id]);
    expect(await focused(page)).toMatchObject({ tag: 'button', row: first.id });
    expect(await page.$eval('job-status', (element) => element.job?.id)).toBe(third.id);
    expect(server.streams.requests - before).toBe(1);
    await server.registry.update(first.id, { state: 'success', message: 'Done' });
    await expect.poll(async () => (await readRows(page)).at(-1)?.state).toBe('Succeeded');
    expect(await focused(page)).toMatchObject({ tag: 'button', row: first.id });
    await page.close();
  });

  for (const anchoring of ['the browser’s scroll anchoring', 'the element, where the browser has none']) {
    it(`keeps the rows a reader is looking at in place when a new job arrives above them (${anchoring})`, async () => {
      const { server, open } = fixture;
      const category = anchoring.startsWith('the browser') ? 'scroll' : 'scroll-off';
      const made = [];
      for (let i = 0; i < 30; i++) made.push(await enqueue(category, `s${i}`));
      const html = `<job-list category="${category}" limit="30"></job-list>`;
      // Safari has no scroll anchoring; turning it off here makes Chromium behave alike.
      const page = await open(
        `/${category}`,
        listPageHtml(category === 'scroll' ? html : `<style>html{overflow-anchor:none}</style>${html}`),
      );
      await page.setViewportSize({ width: 1200, height: 400 });
      await waitInPage(page, 'thirty rows', rowCount, 30);
      await waitFor(() => server.streams.open >= 1, 'the shared feed is live');
      const target = row(page, made[10]!.id);
      await target.scrollIntoViewIfNeeded();
      const top = async () => (await target.boundingBox())?.y ?? Number.NaN;
      const before = await top();
      const scrolled = await page.evaluate(() => window.scrollY);
      expect(scrolled).toBeGreaterThan(0);
      const fresh = await enqueue(category, 'new');
      await expect.poll(async () => (await rowIds(page))[0]).toBe(fresh.id);
      // The page moved by the new row's height: nothing the reader looked at jumped.
      expect(Math.abs((await top()) - before)).toBeLessThan(1);
      expect(await page.evaluate(() => window.scrollY)).toBeGreaterThan(scrolled);
      await page.close();
    });
  }

  it('announces state changes politely, at most one sentence every 3 s, and never progress', async () => {
    const { server, open } = fixture;
    const category = 'announce';
    const made = await Promise.all([1, 2, 3, 4, 5].map((i) => enqueue(category, `a${i}`)));
    const page = await open('/announce', listPageHtml(`<job-list category="${category}"></job-list>`));
    await waitInPage(page, 'five rows', rowCount, 5);
    await waitFor(() => server.streams.open >= 1, 'the shared feed is live');
    await page.evaluate(() => {
      const region = document.querySelector('job-list')?.shadowRoot?.querySelector('[role=status]') as HTMLElement;
      const said: Array<[number, string]> = [];
      (window as never as { said: typeof said }).said = said;
      new MutationObserver(() => said.push([performance.now(), region.textContent ?? ''])).observe(region, {
        subtree: true,
        childList: true,
        characterData: true,
      });
    });
    const said = () => page.evaluate(() => (window as never as { said: Array<[number, string]> }).said);
    const [one, ...rest] = made;
    await server.registry.update(one!.id, { state: 'running' });
    await expect.poll(async () => (await said()).length).toBe(1);
    expect((await said())[0]?.[1]).toBe('announce (peer: a1): Running.');
    for (const job of rest) await server.registry.update(job.id, { state: 'running', progress: 0.1 });
    for (const job of rest) await server.registry.update(job.id, { progress: 0.5 });
    await expect.poll(async () => (await said()).length, { timeout: 6000 }).toBe(2);
    const [[firstAt], [secondAt, sentence]] = (await said()) as [[number, string], [number, string]];
    expect(secondAt - firstAt).toBeGreaterThanOrEqual(2900);
    expect(sentence).toBe('4 jobs changed. Latest: announce (peer: a5): Running.');
    await new Promise((resolve) => setTimeout(resolve, 3500));
    expect(await said()).toHaveLength(2); // progress alone says nothing
    await page.close();
  });

  it('pages with "Older jobs": every job once, none missed, while new jobs arrive on top', async () => {
    const { open } = fixture;
    const category = 'paging';
    const made = [];
    for (let i = 0; i < 7; i++) made.push(await enqueue(category, `p${i}`));
    const ids = made.map((job) => job.id).reverse();
    const page = await open('/paging', listPageHtml(`<job-list category="${category}" limit="3"></job-list>`));
    await waitInPage(page, 'three rows', rowCount, 3);
    expect(await rowIds(page)).toEqual(ids.slice(0, 3));
    const older = page.locator('job-list').getByRole('button', { name: 'Older jobs' });
    await older.click();
    await expect.poll(() => rowIds(page)).toEqual(ids.slice(0, 6));
    // The focus moves to the first row loaded, so a keyboard user reads on from there.
    expect(await focused(page)).toMatchObject({ row: ids[3] });
    const newest = await enqueue(category, 'p7');
    await expect.poll(() => rowIds(page)).toEqual([newest.id, ...ids.slice(0, 6)]);
    await older.click();
    await expect.poll(() => rowIds(page)).toEqual([newest.id, ...ids]);
    await expect.poll(() => older.count()).toBe(0);
    await page.close();
  });

  it('filters by state, category, target and text from its form; new jobs join only when they match', async () => {
    const { server, open } = fixture;
    const category = 'filters';
    const alpha = await enqueue(category, 'f1', 'alpha one');
    await enqueue(category, 'f2', 'beta two');
    const failed = await enqueue(category, 'f1', 'alpha failed');
    await server.registry.update(failed.id, { state: 'error', message: 'alpha failed' });
    const page = await open(
      '/filters',
      listPageHtml(`<job-list category="${category}" target-field="peer" label="Filtered jobs"></job-list>`),
    );
    await waitInPage(page, 'three rows', rowCount, 3);
    const list = page.locator('job-list');
    await list.getByRole('combobox', { name: 'State' }).selectOption('error');
    await list.getByRole('button', { name: 'Filter', exact: true }).click();
    await expect.poll(() => rowIds(page)).toEqual([failed.id]);

    await list.getByRole('combobox', { name: 'State' }).selectOption('');
    await list.getByRole('searchbox', { name: 'Text' }).fill('alpha');
    await list.getByRole('textbox', { name: 'peer' }).fill('f1');
    await list.getByRole('searchbox', { name: 'Text' }).press('Enter');
    await expect.poll(() => rowIds(page)).toEqual([failed.id, alpha.id]);
    await waitFor(() => server.streams.urls.at(-1)?.includes('target.peer=f1') ?? false, 'the feed follows the target');
    await expect.poll(() => page.evaluate(() => document.querySelector('job-list')?.connection)).toBe('live');
    const beta = await enqueue(category, 'f1', 'beta three');
    const gamma = await enqueue(category, 'f1', 'alpha three');
    await expect.poll(() => rowIds(page)).toEqual([gamma.id, failed.id, alpha.id]);
    expect(await rowIds(page)).not.toContain(beta.id);
    // The list route was asked which new jobs match the text, with the list's filters.
    const confirm = fixture.hooks.lists.find((query) => query.getAll('job_id').includes(gamma.id));
    expect(confirm?.get('text')).toBe('alpha');
    expect(confirm?.get('target.peer')).toBe('f1');
    await page.close();
  });

  it('names a wrong attribute, and says so when the list cannot load', async () => {
    const { server, context } = fixture;
    const lists = '<job-list limit="0"></job-list><job-list endpoint="/nowhere"></job-list>';
    server.page('/wrong', listPageHtml(`${lists}<job-list endpoint="http://[::1"></job-list>`));
    const page = await context.newPage();
    const console: string[] = [];
    page.on('console', (message) => console.push(message.text()));
    await page.goto(`${server.url}/wrong`);
    await upgraded(page);
    const errors = page.locator('job-list').locator('.rj-error');
    await expect
      .poll(() => errors.allTextContents())
      .toEqual([
        '<job-list>: `limit` must be an integer from 1 to 500',
        'Could not load jobs: The server answered 404',
        '<job-list>: `endpoint` must be the job routes\' URL, e.g. "/api/admin/jobs"',
      ]);
    expect(console).toContain('<job-list>: `limit` must be an integer from 1 to 500');
    await page.close();
  });
});

describe('<job-list> pages and modes', () => {
  it('on an older page (before), takes no new jobs on top; "Newest jobs" goes back to the first page', async () => {
    const { server, open, fetchPage } = fixture;
    const category = 'older';
    const made = [];
    for (let i = 0; i < 4; i++) made.push(await enqueue(category, `o${i}`));
    const ids = made.map((job) => job.id).reverse();
    const first = await fetchPage(new URLSearchParams({ category, limit: '2' }));
    const second = await fetchPage(new URLSearchParams({ category, limit: '2', before: first.next as string }));
    const html = renderJobList(second.jobs, { category, limit: 2, before: first.next as string, next: second.next });
    const page = await open('/older', listPageHtml(html));
    expect(await rowIds(page)).toEqual(ids.slice(2));
    await waitFor(() => server.streams.open >= 1, 'the shared feed is live');
    const fresh = await enqueue(category, 'o-new');
    await server.registry.update(made[0]!.id, { state: 'running' });
    await expect.poll(async () => (await readRows(page)).at(-1)?.state).toBe('Running');
    expect(await rowIds(page)).toEqual(ids.slice(2));
    await page.locator('job-list').getByRole('link', { name: 'Newest jobs' }).click();
    await expect.poll(() => rowIds(page)).toEqual([fresh.id, ...ids.slice(0, 1)]);
    expect(new URL(page.url()).pathname).toBe('/older');
    await page.close();
  });

  it('without actions on the routes: no Actions column, and new jobs join without asking the server', async () => {
    // Routes made without `authorizeAction`: their answers carry no permissions at all.
    const bare = await startListFixture({ actions: false });
    try {
      const { server, hooks, open } = bare;
      const add = (peer: string) => apart(() => server.registry.enqueue({ category: 'no-actions', target: { peer } }));
      await add('n1');
      const page = await open('/no-actions', listPageHtml('<job-list category="no-actions"></job-list>'));
      await waitInPage(page, 'one row', rowCount, 1);
      expect(await page.locator('job-list').getByRole('columnheader').allTextContents()).not.toContain('Actions');
      await waitFor(() => server.streams.open >= 1, 'the shared feed is live');
      const lists = hooks.lists.length;
      const fresh = await add('n2');
      await expect.poll(async () => (await rowIds(page))[0]).toBe(fresh.id);
      expect(hooks.lists.length).toBe(lists);
      await page.close();
    } finally {
      await bare.close();
    }
  });
});

describe('server markup with JavaScript off', () => {
  it('is a real table with filter form and paging links the page honours', async () => {
    const { server, fetchPage } = fixture;
    const category = 'nojs';
    const made = [];
    for (let i = 0; i < 5; i++) made.push(await enqueue(category, i % 2 ? 'odd' : 'even', `<b>job ${i}</b>`));
    server.page('/nojs', async (params) => {
      const query = { ...readJobListQuery(params, { targetField: 'peer' }), category, targetField: 'peer', limit: 2 };
      const answer = await fetchPage(listQueryString(query));
      return listPageHtml(renderJobList(answer.jobs, { ...query, next: answer.next, permissions: answer.permissions }));
    });
    const noJs = await launchChromium({ javaScriptEnabled: false });
    try {
      const page = await noJs.context.newPage();
      await page.goto(`${server.url}/nojs`);
      const ids = made.map((job) => job.id).reverse();
      expect(await rowIds(page)).toEqual(ids.slice(0, 2));
      expect(await page.getByRole('table', { name: 'Jobs' }).count()).toBe(1);
      // The times are UTC (the server cannot know the reader's zone), and the heading says so.
      expect(await page.getByRole('columnheader').allTextContents()).toContain('Queued (UTC)');
      expect(await page.locator('job-list tbody time').first().textContent()).toMatch(
        /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/,
      );
      expect(await page.getByRole('rowheader').first().textContent()).toBe(category);
      // Text, never HTML; the actions need the element.
      expect((await readRows(page))[0]?.cells[1]).toBe('<b>job 4</b>');
      expect(await page.locator('job-list b').count()).toBe(0);
      expect(
        await page
          .getByRole('button', { name: /^Cancel/ })
          .first()
          .isDisabled(),
      ).toBe(true);

      await page.getByRole('link', { name: 'Older jobs' }).click();
      expect(await rowIds(page)).toEqual(ids.slice(2, 4));
      await page.getByRole('link', { name: 'Older jobs' }).click();
      expect(await rowIds(page)).toEqual(ids.slice(4));
      expect(await page.getByRole('link', { name: 'Older jobs' }).count()).toBe(0);
      await page.getByRole('link', { name: 'Newest jobs' }).click();
      expect(await rowIds(page)).toEqual(ids.slice(0, 2));

      await page.getByRole('textbox', { name: 'peer' }).fill('odd');
      await page.getByRole('button', { name: 'Filter', exact: true }).click();
      expect(new URL(page.url()).searchParams.get('target.peer')).toBe('odd');
      expect(await rowIds(page)).toEqual([ids[1], ids[3]]);
    } finally {
      await noJs.close();
    }
  });
});
