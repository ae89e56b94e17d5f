import type express from 'express';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderJobStatus } from '../../src/html/render.js';
import { renderJobList } from '../../src/html/render-list.js';
import { waitFor } from '../support/wait.js';
import { listPageHtml, row, startListFixture, upgraded } from './list-fixtures.js';
import { PREFIX, pageHtml, startTestServer } from './server.js';
import { waitInPage } from './setup.js';

/**
 * Hostile job data, from a real registry and from a broken server's wire: it must stay text, stay in
 * its box, not reorder the words around it, and not break the element.
 */

let fixture: Awaited<ReturnType<typeof startListFixture>>;
beforeAll(async () => {
  fixture = await startListFixture();
});
afterAll(async () => {
  await fixture?.close();
});

const HTMLY = `<img src=x onerror="window.__xss=1"></script><!-- "'&amp;`;
const RLO = '\u202E';

async function open(path: string, html: string, ready: (page: Page) => Promise<void>): Promise<Page> {
  fixture.server.page(path, html);
  const page = await fixture.context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${fixture.server.url}${path}`);
  await ready(page);
  expect(errors).toEqual([]);
  return page;
}

/** Where the text `needle` of `selector`'s first match is drawn: left edges of its first and last character. */
function textEdges(page: Page, host: string, selector: string, needle: string) {
  return page.$eval(
    host,
    (element, [selector, needle]) => {
      const root = element.shadowRoot ?? element;
      const scope = root.querySelector(selector as string) as Element;
      const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const at = node.textContent?.indexOf(needle as string) ?? -1;
        if (at < 0) continue;
        const range = document.createRange();
        const x = (i: number) => {
          range.setStart(node, i);
          range.setEnd(node, i + 1);
          return range.getBoundingClientRect().left;
        };
        return { first: x(at), last: x(at + (needle as string).length - 1) };
      }
      return null;
    },
    [selector, needle],
  );
}

describe('hostile job data in <job-status>', () => {
  it('keeps long unbroken words inside the tile, and hydrates hostile server markup in the same box', async () => {
    const { registry } = fixture.server;
    const category = `very.long.${'c'.repeat(90)}`;
    const message = `${'m'.repeat(500)} ${HTMLY} ${RLO}reversed \u0000 nul \uDC00 lone`;
    const job = await registry.enqueue({ category, message, data: { html: HTMLY } });
    await registry.update(job.id, { state: 'running', phase: HTMLY, progress: 0.5 });
    const served = registry.get(job.id) as Parameters<typeof renderJobStatus>[0];
    const tiles = `<job-status action="${category}"></job-status>${renderJobStatus(served, { label: 'l'.repeat(200), description: HTMLY, action: category })}`;
    // The bundle comes later, as a slow script would: the server markup is measured first.
    fixture.server.page(
      '/tile-long',
      pageHtml(tiles).replace('<script type="module" src="/realtime-jobs.js"></script>', ''),
    );
    const page = await fixture.context.newPage();
    await page.goto(`${fixture.server.url}/tile-long`);
    const measure = () =>
      page.$$eval('job-status', (tiles) =>
        tiles.map((tile) => {
          const root = tile.shadowRoot ?? tile;
          const inner = root.querySelector('.rj-tile') as HTMLElement | null;
          const box = tile.getBoundingClientRect();
          return { width: box.width, height: box.height, inner: inner?.clientWidth, scroll: inner?.scrollWidth };
        }),
      );
    const before = (await measure())[1];
    await page.addScriptTag({ url: '/realtime-jobs.js', type: 'module' });
    await waitInPage(page, 'tiles upgraded', () =>
      [...document.querySelectorAll('job-status')].every((tile) => tile.shadowRoot?.querySelector('.rj-status')),
    );
    const after = await measure();
    expect(after[1]).toEqual(before);
    for (const box of after) expect(box.scroll).toBeLessThanOrEqual(box.inner as number);
    const texts = await page.$$eval('job-status', (tiles) =>
      tiles.map((tile) => tile.shadowRoot?.querySelector('.rj-message')?.textContent),
    );
    expect(texts[1]?.startsWith(`${'m'.repeat(500)} ${HTMLY}`)).toBe(true);
    expect(await page.evaluate(() => (window as never as { __xss?: number }).__xss)).toBeUndefined();
    await registry.cancel(job.id);
    await page.close();
  });
});

describe('hostile job data in <job-list>', () => {
  it('keeps long targets and categories inside the table, before and after the upgrade', async () => {
    const { registry } = fixture.server;
    const category = `long.${'k'.repeat(95)}`;
    const job = await registry.enqueue({
      category,
      target: { peer: 'p'.repeat(256), region: `eu${HTMLY}` },
      message: `${'z'.repeat(600)} ${HTMLY} ${RLO}nul \u0000 lone \uDC00 end`,
      data: { html: HTMLY },
    });
    const answer = await fixture.fetchPage(`category=${category}`);
    const markup = renderJobList(answer.jobs, { category, next: answer.next, permissions: answer.permissions });
    fixture.server.page('/list-long', listPageHtml(markup, null));
    const page = await fixture.context.newPage();
    await page.goto(`${fixture.server.url}/list-long`);
    const measure = () =>
      page.$eval('job-list', (list) => {
        const root = list.shadowRoot ?? list;
        const table = root.querySelector('table') as HTMLElement;
        const box = list.getBoundingClientRect();
        const cells = [...root.querySelectorAll('tbody tr[data-job-id] > *')].map((c) => [
          Math.round(c.getBoundingClientRect().width),
          Math.round(c.getBoundingClientRect().height),
        ]);
        const heads = [...root.querySelectorAll('thead th')].map((c) => Math.round(c.getBoundingClientRect().width));
        const form = Math.round((root.querySelector('form') as HTMLElement).getBoundingClientRect().height);
        return { list: box.width, height: box.height, table: table.getBoundingClientRect().width, cells, heads, form };
      });
    const before = await measure();
    expect(before.table).toBeLessThanOrEqual(before.list);
    await page.addScriptTag({ url: '/realtime-jobs-list.js', type: 'module' });
    await upgraded(page);
    expect(await measure()).toEqual(before);
    expect(await page.evaluate(() => (window as never as { __xss?: number }).__xss)).toBeUndefined();
    await registry.cancel(job.id);
    await page.close();
  });

  it('keeps a long error inside the detail, and an override character in it or a target does not reorder what follows', async () => {
    const { registry } = fixture.server;
    registry.define('hostile-fail', async () => {
      throw Object.assign(new Error(`bad ${RLO}evil ${'q'.repeat(300)}`), { code: 'EBAD' });
    });
    const failed = await registry.run('hostile-fail', {}, { target: { a: `x${RLO}y`, b: 'after' } });
    await waitFor(() => registry.get(failed.id)?.state === 'error', 'the job to fail');
    const page = await open(
      '/list-bidi',
      listPageHtml('<job-list category="hostile-fail"></job-list>'),
      async (page) => {
        await upgraded(page);
        await row(page, failed.id).waitFor();
      },
    );
    await row(page, failed.id).locator('.rj-toggle').click();
    await page.locator('job-list [part=job-error]').waitFor();
    const detail = await page.$eval('job-list', (list) => {
      const cell = list.shadowRoot?.querySelector('[part=job-error]') as HTMLElement;
      return { width: cell.clientWidth, scroll: cell.scrollWidth };
    });
    expect(detail.scroll).toBeLessThanOrEqual(detail.width);
    // Left to right as written: "(" before ")", "a" of "after" before its "r".
    const attempt = await textEdges(page, 'job-list', '[part=job-error]', '(attempt');
    expect(attempt && attempt.first < attempt.last).toBe(true);
    const target = await textEdges(page, 'job-list', `tr[data-job-id="${failed.id}"] td:nth-child(3)`, 'after');
    expect(target && target.first < target.last).toBe(true);
    await page.close();
  });
});

/**
 * A broken server (or a proxy rewriting it) sends jobs the registry would never make: `progress` as a
 * string or out of range, times that are no dates. The tile must still render them.
 */
describe('hostile jobs on the wire', () => {
  const base = { category: 'wire', state: 'running', version: 1, attempt: 1, maxAttempts: 1, data: {} };
  const wireJobs = [
    { ...base, id: 'w-string', progress: 'half', queuedAt: 'not a date', startedAt: 'never' },
    { ...base, id: 'w-big', progress: 7, queuedAt: '2026-11-30T10:00:00.000Z', startedAt: null },
    { ...base, id: 'w-negative', progress: -3, queuedAt: 12, startedAt: '2026-13-45T99:99:99Z' },
    {
      ...base,
      id: 'w-none',
      progress: null,
      queuedAt: '2026-11-30T10:00:00.000Z',
      startedAt: null,
      // Not a string: the target's words must still be made of it.
      target: { peer: ['\u202E'], region: 7 },
    },
  ];
  beforeAll(() => {
    const router = (fixture.hooks as unknown as { router: express.Router }).router;
    router.get('/wire/events', (_req, res) => {
      res.set({ 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      for (const job of wireJobs) res.write(`event: job-update\ndata: ${JSON.stringify(job)}\n\n`);
      res.write('event: ready\ndata: {}\n\n');
    });
    router.get('/wire', (_req, res) => void res.json({ jobs: wireJobs, next: null }));
  });

  it('renders a job with string or out-of-range progress and times that are no dates', async () => {
    const tiles = wireJobs
      .map((job) => `<job-status endpoint="${PREFIX}/wire" job-id="${job.id}" label="${job.id}"></job-status>`)
      .join('');
    const page = await open('/wire-tiles', pageHtml(tiles), (page) =>
      waitInPage(page, 'every tile has its job', () =>
        [...document.querySelectorAll('job-status')].every((tile) => tile.getAttribute('state') === 'running'),
      ),
    );
    await page.evaluate(() =>
      Promise.all(
        [...document.querySelectorAll('job-status')].map(
          (tile) => (tile as never as { updateComplete: Promise<unknown> }).updateComplete,
        ),
      ),
    );
    const shown = await page.$$eval('job-status', (tiles) =>
      tiles.map((tile) => {
        const root = tile.shadowRoot as ShadowRoot;
        const bar = root.querySelector('progress');
        return {
          id: tile.getAttribute('job-id'),
          badge: root.querySelector('.rj-badge')?.textContent,
          value: bar ? bar.getAttribute('value') : 'no bar',
          times: root.querySelectorAll('time').length,
        };
      }),
    );
    expect(shown).toEqual([
      // Not a number: no known progress (an indeterminate bar), not "0 %".
      { id: 'w-string', badge: 'Running', value: null, times: 2 },
      { id: 'w-big', badge: 'Running', value: '100', times: 1 },
      { id: 'w-negative', badge: 'Running', value: '0', times: 2 },
      { id: 'w-none', badge: 'Running', value: null, times: 1 },
    ]);
    await page.close();
  });

  it('lists the same jobs without a page error', async () => {
    const page = await open(
      '/wire-list',
      listPageHtml(`<job-list endpoint="${PREFIX}/wire"></job-list>`),
      async (page) => {
        await upgraded(page);
        await row(page, 'w-none').waitFor();
      },
    );
    const values = await page.$eval('job-list', (list) =>
      [...(list.shadowRoot as ShadowRoot).querySelectorAll('tr[data-job-id]')].map((tr) => [
        tr.getAttribute('data-job-id'),
        tr.querySelector('progress')?.getAttribute('value') ?? null,
      ]),
    );
    expect(Object.fromEntries(values)).toEqual({ 'w-string': null, 'w-big': '100', 'w-negative': '0', 'w-none': null });
    await page.close();
  });
});

describe('pressing an action twice', () => {
  it('posts a double click, or two clicks before the render, once', async () => {
    const { registry } = fixture.server;
    const { hooks } = fixture;
    hooks.authorizeAction = () => true;
    registry.define('twice', async (ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    });
    const job = await registry.run('twice', {});
    await waitFor(() => registry.get(job.id)?.state === 'running', 'the job to run');
    const page = await open('/twice', listPageHtml('<job-list category="twice"></job-list>'), async (page) => {
      await upgraded(page);
      await row(page, job.id).locator('[data-action=cancel]').waitFor();
    });
    const release = hooks.hold();
    const before = hooks.actions.length;
    // Two clicks in one task: the second comes before the element has rendered the busy row.
    await page.evaluate((id) => {
      const counts = { asked: 0, answered: 0 };
      (window as never as { counts: typeof counts }).counts = counts;
      document.addEventListener('job-action', () => counts.asked++);
      document.addEventListener('job-action-result', () => counts.answered++);
      const button = document
        .querySelector('job-list')
        ?.shadowRoot?.querySelector(`tr[data-job-id="${id}"] [data-action=cancel]`) as HTMLButtonElement;
      button.click();
      button.click();
    }, job.id);
    await waitFor(() => hooks.actions.length > before, 'the cancel request');
    release();
    await expect.poll(() => registry.get(job.id)?.state).toBe('cancelled');
    // Every request the clicks made was sent at once: by the time one is answered, all have arrived.
    await waitInPage(
      page,
      'the action answered',
      () => (window as never as { counts: { answered: number } }).counts.answered > 0,
    );
    expect(hooks.actions.slice(before)).toEqual([`cancel ${job.id}`]);
    expect(await page.evaluate(() => (window as never as { counts: unknown }).counts)).toEqual({
      asked: 1,
      answered: 1,
    });
    await page.close();
  });
});

describe('[data-job-control] under pressure', () => {
  it('a form double-clicked starts its job once', async () => {
    const { registry } = fixture.server;
    const router = (fixture.hooks as unknown as { router: express.Router }).router;
    let posts = 0;
    router.post('/start-once', async (_req, res) => {
      posts++;
      const job = await registry.enqueue({ category: 'once', target: { peer: 'p' } });
      await registry.update(job.id, { state: 'running' });
      res.redirect(303, '/once');
    });
    const form = `<form method="post" action="${PREFIX}/start-once"><button id="go" data-job-control data-job-action="once" data-job-target-field="peer" data-job-target="p">Go</button></form>`;
    const page = await open('/once', pageHtml(form), (page) =>
      waitInPage(page, 'controller', () => customElements.get('job-status') !== undefined),
    );
    await page.locator('#go').dblclick();
    await page.waitForURL('**/once');
    await waitInPage(page, 'the control locked', () => (document.querySelector('#go') as HTMLButtonElement).disabled);
    expect(posts).toBe(1);
    await page.close();
  });
});

describe('a job id that needs escaping (from a broken server)', () => {
  const id = 'a"b\\ #c/d?e%';
  const job = {
    id,
    category: 'odd',
    state: 'running',
    version: 1,
    attempt: 1,
    maxAttempts: 1,
    data: {},
    progress: null,
    queuedAt: '2026-11-30T10:00:00.000Z',
  };
  const asked: string[] = [];
  beforeAll(() => {
    const router = (fixture.hooks as unknown as { router: express.Router }).router;
    router.get('/odd/events', (_req, res) => {
      res.set({ 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      res.write('event: ready\ndata: {}\n\n');
    });
    router.get('/odd', (_req, res) => void res.json({ jobs: [job], next: null, permissions: { [id]: ['cancel'] } }));
    router.get('/odd/:id/detail', (req, res) => {
      asked.push(`detail ${req.params.id}`);
      res.json({ job, log: [], permissions: ['cancel'] });
    });
    router.post('/odd/:id/:action', (req, res) => {
      asked.push(`${req.params.action} ${req.params.id}`);
      res.json({ job: { ...job, state: 'cancelled', version: 2 } });
    });
  });

  it('opens its detail, closes it with Escape back on its toggle, and acts on it by its encoded URL', async () => {
    const page = await open('/odd', listPageHtml(`<job-list endpoint="${PREFIX}/odd"></job-list>`), async (page) => {
      await upgraded(page);
      await page.locator('job-list .rj-toggle').first().waitFor();
    });
    await page.locator('job-list tbody .rj-toggle').first().click();
    await expect.poll(() => asked).toContain(`detail ${id}`);
    await page.locator('job-list [part=detail]').waitFor();
    await page.keyboard.press('Escape');
    await expect
      .poll(() => page.evaluate(() => document.querySelector('job-list')?.shadowRoot?.activeElement?.className))
      .toBe('rj-toggle');
    await page.locator('job-list [data-action=cancel]').click();
    await expect.poll(() => asked).toContain(`cancel ${id}`);
    await page.close();
  });
});

describe('a job pruned while its detail is open', () => {
  it('keeps the row and detail as last seen, and a retry of it says why it failed', async () => {
    const server = await startTestServer({ retentionMs: 1500, authorizeAction: () => true });
    try {
      server.registry.define('short', async (ctx) => {
        await ctx.log('only line');
        return { done: true };
      });
      const job = await server.registry.run('short', { n: 1 });
      await waitFor(() => server.registry.get(job.id)?.state === 'success', 'the job to end');
      server.page('/pruned', listPageHtml('<job-list category="short"></job-list>'));
      const page = await fixture.context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(`${server.url}/pruned`);
      await upgraded(page);
      await row(page, job.id).locator('.rj-toggle').click();
      await page.locator('job-list .rj-log li').waitFor();
      await waitFor(() => server.registry.get(job.id) === undefined, 'the job to be pruned', 5000);
      await row(page, job.id).locator('[data-action=retry]').click();
      await expect.poll(() => row(page, job.id).getByRole('alert').textContent()).toMatch(/^Retry failed: No such job/);
      // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, what a reader sees
      expect(await page.locator('job-list .rj-detail').innerText()).toContain('only line');
      expect(errors).toEqual([]);
      await page.close();
    } finally {
      await server.close();
    }
  });
});

describe('an action refused in long words', () => {
  it('shows the refusal inside the table', async () => {
    const { registry } = fixture.server;
    const { hooks } = fixture;
    hooks.authorizeAction = () => true;
    registry.define('refused-long', async (ctx) => {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    });
    const job = await registry.run('refused-long', {});
    await waitFor(() => registry.get(job.id)?.state === 'running', 'the job to run');
    const page = await open(
      '/refused-long',
      listPageHtml('<job-list category="refused-long"></job-list>'),
      async (page) => {
        await upgraded(page);
        await row(page, job.id).locator('[data-action=cancel]').waitFor();
      },
    );
    hooks.refuse = (_action, id) => (id === job.id ? `See https://example.com/${'policy/'.repeat(60)}` : null);
    try {
      await row(page, job.id).locator('[data-action=cancel]').click();
      await row(page, job.id).getByRole('alert').waitFor();
      const box = await page.$eval('job-list', (list) => ({
        list: list.getBoundingClientRect().width,
        table: ((list.shadowRoot as ShadowRoot).querySelector('table') as HTMLElement).getBoundingClientRect().width,
      }));
      expect(box.table).toBeLessThanOrEqual(box.list);
    } finally {
      hooks.refuse = null;
      await registry.cancel(job.id);
      await page.close();
    }
  });
});
