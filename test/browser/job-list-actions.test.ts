import { AxeBuilder } from '@axe-core/playwright';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderJobList } from '../../src/html/render-list.js';
import type { Job } from '../../src/protocol/job.js';
import { waitFor } from '../support/wait.js';
import { apart, focused, listPageHtml, readRows, row, rowIds, startListFixture } from './list-fixtures.js';

let fixture: Awaited<ReturnType<typeof startListFixture>>;
beforeAll(async () => {
  fixture = await startListFixture();
});
afterAll(async () => {
  await fixture?.close();
});

/** Waits for the registry's job to satisfy `done`, and returns it. */
async function until(id: string, done: (job: Job) => boolean): Promise<Job> {
  await waitFor(() => {
    const job = fixture.server.registry.get(id);
    return job !== undefined && done(job);
  }, `job ${id}`);
  return fixture.server.registry.get(id) as Job;
}
const run = (category: string, input: Record<string, string>, target: Record<string, string> = {}) =>
  apart(() => fixture.server.registry.run(category, input, { target }));
const stateOf = async (page: Page, id: string) => (await readRows(page)).find((each) => each.id === id)?.state;
const actionsOf = (page: Page, id: string) =>
  row(page, id)
    .locator('[data-action]')
    .evaluateAll((buttons) => buttons.map((button) => button.getAttribute('data-action')));
// biome-ignore lint/performance/useDomNodeTextContent: innerText is the rendered text, what a reader sees
const detailText = (page: Page) => page.locator('job-list .rj-detail').innerText();

describe('<job-list> details and actions', () => {
  it('opens a detail with input, error, attempt and log lines, and streams new lines while it is open', async () => {
    const { server, open, jobs } = fixture;
    const failed = await run('import', { file: 'users.csv' }, { source: 'crm' });
    await until(failed.id, (job) => job.state === 'error');
    const page = await open('/detail', listPageHtml('<job-list category="import"></job-list>'));
    await row(page, failed.id).locator('.rj-toggle').click();
    await expect.poll(() => detailText(page)).toContain('The disk is full');
    const text = await detailText(page);
    expect(text).toContain('"file": "users.csv"');
    expect(text).toMatch(/ENOSPC No space left on the device \(attempt 1 of 1\)/);
    expect(text).toContain('Importing users.csv');
    const errorLine = page.locator('job-list .rj-log li[data-level=error]');
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, what a reader sees
    expect(await errorLine.innerText()).toMatch(/error The disk is full$/);
    expect(server.streams.urls.at(-1)).toBe(`/api/admin/jobs/events?logs=1&job_id=${failed.id}`);
    await page.close();

    const deploy = await run('deploy', { version: '1.2' }, { site: 'docs' });
    await until(deploy.id, (job) => job.progress === 0.25);
    const live = await open('/detail-live', listPageHtml('<job-list category="deploy"></job-list>'));
    await waitFor(() => server.streams.open === 1, 'the shared feed');
    await row(live, deploy.id).locator('.rj-toggle').click();
    await expect.poll(() => detailText(live)).toContain('Deploy started');
    await waitFor(() => server.streams.open === 2, 'the detail’s log stream');
    await jobs.tail(deploy.id).log('Copied 3 files', { level: 'warn' });
    await expect
      .poll(() => live.locator('job-list .rj-log li').allInnerTexts())
      .toEqual([expect.stringMatching(/info Deploy started$/), expect.stringMatching(/warn Copied 3 files$/)]);
    // Closing the detail lets go of its stream.
    await row(live, deploy.id).locator('.rj-toggle').click();
    await waitFor(() => server.streams.open === 1, 'the log stream to close');
    await server.registry.cancel(deploy.id);
    await live.close();
  });

  it('offers only what is permitted and fits the state, and performs it: cancel, retry, approve, reject', async () => {
    const { server, hooks, open } = fixture;
    hooks.authorizeAction = (action, job) => !(action === 'reject' && job.data.site === 'locked');
    const running = await run('deploy', { version: '2' }, { site: 'a' });
    const failed = await run('import', { file: 'b.csv' });
    const pending = await run('publish', { site: 'blog' });
    const locked = await run('publish', { site: 'locked' });
    const news = await run('publish', { site: 'news' });
    for (const job of [pending, locked, news]) await until(job.id, (each) => each.state === 'pending');
    await until(running.id, (job) => job.state === 'running');
    await until(failed.id, (job) => job.state === 'error');
    const page = await open('/actions', listPageHtml('<job-list limit="50"></job-list>'));
    // A pending job is busy: it can be cancelled too.
    await expect.poll(() => actionsOf(page, news.id)).toEqual(['cancel', 'approve', 'reject']);
    expect(await actionsOf(page, running.id)).toEqual(['cancel']);
    expect(await actionsOf(page, failed.id)).toEqual(['retry']);
    expect(await actionsOf(page, locked.id)).toEqual(['cancel', 'approve']);

    // Cancel: disabled while in flight, then the row says so and the focus stays in the row.
    const release = hooks.hold();
    const cancel = row(page, running.id).getByRole('button', { name: /^Cancel/ });
    await cancel.click();
    await expect.poll(() => cancel.isDisabled()).toBe(true);
    expect(await row(page, running.id).locator('.rj-actions').getAttribute('aria-busy')).toBe('true');
    release();
    await expect.poll(() => stateOf(page, running.id)).toBe('Cancelled');
    // Finished now, it may be retried; the Cancel button is gone, and the focus went to the row's toggle
    // (not to the Retry button that took its place).
    expect(await actionsOf(page, running.id)).toEqual(['retry']);
    expect(await focused(page)).toEqual({ tag: 'button', name: 'deploy', row: running.id });

    // Retry: the new job appears on top, and its detail links to the job it retries.
    await row(page, failed.id)
      .getByRole('button', { name: /^Retry/ })
      .click();
    await expect.poll(async () => (await rowIds(page))[0]).not.toBe(news.id);
    const retried = (await rowIds(page))[0] as string;
    expect(server.registry.get(retried)?.retryOf).toBe(failed.id);
    await row(page, retried).locator('.rj-toggle').click();
    await page.locator('job-list .rj-detail').getByRole('button', { name: failed.id }).click();
    expect(await focused(page)).toMatchObject({ row: failed.id });
    await expect.poll(() => detailText(page)).toContain('"file": "b.csv"');

    // Approve: the job runs and succeeds; its result shows in the detail.
    await row(page, pending.id)
      .getByRole('button', { name: /^Approve/ })
      .click();
    await expect.poll(() => stateOf(page, pending.id)).toBe('Succeeded');
    await row(page, pending.id).locator('.rj-toggle').click();
    await expect.poll(() => detailText(page)).toMatch(/Result\s+\{\s+"published": true,\s+"by": "admin"\s+\}/);

    // Reject, with the reason a listener gives.
    await page.evaluate(() =>
      document.addEventListener('job-action', (event) => {
        if (event.detail.action === 'reject') event.detail.message = 'Not today';
      }),
    );
    await row(page, news.id)
      .getByRole('button', { name: /^Reject/ })
      .click();
    await expect.poll(() => stateOf(page, news.id)).toBe('Cancelled');
    expect((await readRows(page)).find((each) => each.id === news.id)?.cells[1]).toBe('Not today');
    expect(hooks.actions).toEqual([
      `cancel ${running.id}`,
      `retry ${failed.id}`,
      `approve ${pending.id}`,
      `reject ${news.id}`,
    ]);
    await page.close();
  });

  it('shows why an action failed as text in the row: refused, or the job changed first', async () => {
    const { server, hooks, open } = fixture;
    const refused = await run('deploy', { version: '3' }, { site: 'refused' });
    const raced = await run('publish', { site: 'raced' });
    await until(raced.id, (job) => job.state === 'pending');
    hooks.authorizeAction = () => true;
    const page = await open('/errors', listPageHtml('<job-list></job-list>'));
    await expect.poll(() => actionsOf(page, refused.id)).toEqual(['cancel']);
    fixture.hooks.refuse = (_action, id) =>
      id === refused.id ? '<img src=x onerror="window.__xss=1">Not on Fridays' : null;
    await row(page, refused.id)
      .getByRole('button', { name: /^Cancel/ })
      .click();
    const error = row(page, refused.id).getByRole('alert');
    await expect
      .poll(() => error.textContent())
      .toBe('Cancel failed: <img src=x onerror="window.__xss=1">Not on Fridays');
    expect(await page.locator('job-list img').count()).toBe(0);

    // Rejected elsewhere while the approval waits: the registry refuses it (409), and the row says so.
    const release = hooks.hold();
    await row(page, raced.id)
      .getByRole('button', { name: /^Approve/ })
      .click();
    await server.registry.reject(raced.id, { by: 'someone else' });
    await expect.poll(() => stateOf(page, raced.id)).toBe('Cancelled');
    release();
    await expect
      .poll(() => row(page, raced.id).getByRole('alert').textContent())
      .toBe(`Approve failed: Job ${raced.id} is cancelled: only a pending job is approved`);
    expect(await page.evaluate(() => (window as never as { __xss?: number }).__xss)).toBeUndefined();
    await server.registry.cancel(refused.id);
    await page.close();
  });

  it('has no axe violations with an open detail, actions and an error', async () => {
    const { hooks, open, fetchPage } = fixture;
    hooks.authorizeAction = () => true;
    hooks.refuse = null;
    const failed = await run('import', { file: 'axe.csv' }, { source: 'axe' });
    await until(failed.id, (job) => job.state === 'error');
    const answer = await fetchPage(new URLSearchParams({ limit: '5' }));
    const page = await open(
      '/axe',
      listPageHtml(renderJobList(answer.jobs, { limit: 5, next: answer.next, permissions: answer.permissions })),
    );
    await row(page, failed.id).locator('.rj-toggle').click();
    await expect.poll(() => detailText(page)).toContain('The disk is full');
    const result = await new AxeBuilder({ page })
      .include('job-list')
      .withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'])
      .analyze();
    expect(result.violations.map((violation) => `${violation.id}: ${violation.help}`)).toEqual([]);
    await page.close();
  });

  it('walks by keyboard: filters, then each row’s toggle and actions; Enter and Space open, Escape closes', async () => {
    const { server, hooks, open } = fixture;
    hooks.authorizeAction = () => true;
    const first = await apart(() => server.registry.enqueue({ category: 'kbd', target: { peer: 'k1' } }));
    const second = await apart(() => server.registry.enqueue({ category: 'kbd', target: { peer: 'k2' } }));
    const page = await open('/keyboard', listPageHtml('<job-list category="kbd" target-field="peer"></job-list>'));
    await expect.poll(() => rowIds(page)).toEqual([second.id, first.id]);
    const walk: unknown[] = [];
    for (let i = 0; i < 9; i++) {
      await page.keyboard.press('Tab');
      walk.push(await focused(page));
    }
    expect(walk).toEqual([
      { tag: 'select', name: 'state', row: null },
      { tag: 'input', name: 'category', row: null },
      { tag: 'input', name: 'target.peer', row: null },
      { tag: 'input', name: 'text', row: null },
      { tag: 'button', name: 'Filter', row: null },
      { tag: 'button', name: 'kbd', row: second.id },
      { tag: 'button', name: 'Cancel kbd (peer: k2)', row: second.id },
      { tag: 'button', name: 'kbd', row: first.id },
      { tag: 'button', name: 'Cancel kbd (peer: k1)', row: first.id },
    ]);
    // Focus is visible: a 2px ring on whatever the keyboard reached.
    const ring = await page.evaluate(() => {
      const element = document.querySelector('job-list')?.shadowRoot?.activeElement as Element;
      const style = getComputedStyle(element);
      return `${style.outlineStyle} ${style.outlineWidth}`;
    });
    expect(ring).toBe('solid 2px');
    const toggle = row(page, first.id).locator('.rj-toggle');
    await page.keyboard.press('Shift+Tab');
    await page.keyboard.press('Enter');
    await expect.poll(() => toggle.getAttribute('aria-expanded')).toBe('true');
    expect(await page.locator('job-list .rj-detail').count()).toBe(1);
    await page.keyboard.press('Tab'); // the row's Cancel button
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('job-list .rj-detail').count()).toBe(0);
    expect(await focused(page)).toEqual({ tag: 'button', name: 'kbd', row: first.id });
    expect(await toggle.getAttribute('aria-expanded')).toBe('false');
    await page.keyboard.press('Space');
    await expect.poll(() => toggle.getAttribute('aria-expanded')).toBe('true');
    await page.keyboard.press('Space');
    await expect.poll(() => toggle.getAttribute('aria-expanded')).toBe('false');
    await page.close();
  });
});
