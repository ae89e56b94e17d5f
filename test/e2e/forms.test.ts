import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Instance, logIn, noScriptPage, type SingleApp, startSingleApp } from './harness.js';

// A form sent with a value the server refuses comes back as the form, the reason next to the field
// and what was typed still there, with JavaScript and without.
describe('reference app: forms with a wrong value', () => {
  let env: SingleApp;
  let app: Instance;

  beforeAll(async () => {
    env = await startSingleApp({ keys: ['unused-key-0123456789'], delayMs: 0 });
    app = env.app;
    const page = await env.chromium.context.newPage();
    await logIn(page, app.url);
    await page.close();
  });

  afterAll(async () => {
    await env?.close();
  });

  /** Clicks a submit button and returns the status of the form's POST. */
  async function submit(page: Page, button: string, path: string) {
    const [answer] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === path && r.request().method() === 'POST'),
      page.getByRole('button', { name: button }).click(),
    ]);
    await page.waitForLoadState();
    return answer.status();
  }

  /** The field's error: its text, when the field says it is invalid and points at it. */
  async function fieldError(page: Page, id: string) {
    const field = page.locator(`#${id}`);
    expect(await field.getAttribute('aria-invalid')).toBe('true');
    const described = await field.getAttribute('aria-describedby');
    return page.locator(`#${described}`).textContent();
  }

  it('gives the records form back with the error at the title and the typed text kept', async () => {
    const page = await env.chromium.context.newPage();
    await page.goto(`${app.url}/admin/records`);
    // Spaces satisfy the browser's `required`; the server trims them to nothing.
    await page.getByRole('textbox', { name: 'Title' }).fill('   ');
    await page.getByRole('textbox', { name: 'Text' }).fill('A text that took a while to type');
    expect(await submit(page, 'Add record', '/admin/records')).toBe(400);

    expect(new URL(page.url()).pathname).toBe('/admin/records');
    await page.getByRole('heading', { name: 'Records', exact: true }).waitFor();
    await page.getByText('The record was not added: see the form.').waitFor();
    expect(await fieldError(page, 'title')).toBe('Enter a title.');
    expect(await page.locator('#body').getAttribute('aria-invalid')).toBeNull();
    expect(await page.getByRole('textbox', { name: 'Text' }).inputValue()).toBe('A text that took a while to type');
    expect(await page.getByRole('textbox', { name: 'Title' }).inputValue()).toBe('   ');

    // The same form, now right, posts as usual.
    await page.getByRole('textbox', { name: 'Title' }).fill('Typed once');
    expect(await submit(page, 'Add record', '/admin/records')).toBe(303);
    await page.getByText('Added "Typed once".').waitFor();
    await page.close();
  });

  it('without JavaScript, gives the Dedalus key form back with the reason at the field, never the key', async () => {
    const page = await noScriptPage(env.chromium);
    await page.goto(`${app.url}/admin/dedalus`);
    const key = 'dsk-typed with a space-0123';
    await page.getByLabel('New API key').fill(key);
    expect(await submit(page, 'Save API key', '/admin/dedalus/key')).toBe(400);

    expect(new URL(page.url()).pathname).toBe('/admin/dedalus/key');
    await page.getByRole('heading', { name: 'Dedalus connection' }).waitFor();
    expect(await fieldError(page, 'api_key')).toBe('The API key must not contain spaces (character 10 is one).');
    expect(await page.getByLabel('New API key').inputValue()).toBe('');
    expect(await page.content()).not.toContain('with a space');
    await page.close();
  });
});
