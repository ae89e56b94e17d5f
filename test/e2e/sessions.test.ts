import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormClient } from '../support/form-client.js';
import { type ForwardingProxy, startForwardingProxy } from '../support/forwarding-proxy.js';
import { ADMIN_PASSWORD, type Instance, logIn, type SingleApp, startSingleApp } from './harness.js';

// Sessions are stored only once someone logs in, and the login form's CSRF token holds while other
// requests of the same browser come and go.
describe('reference app: sessions and the login form', () => {
  let env: SingleApp;
  let app: Instance;
  let proxy: ForwardingProxy;
  let db: Database.Database;
  const sessionRows = () => (db.prepare('SELECT COUNT(*) AS n FROM sessions').get() as { n: number }).n;

  beforeAll(async () => {
    env = await startSingleApp({ keys: ['unused-key-0123456789'], delayMs: 0 });
    app = env.app;
    proxy = await startForwardingProxy({ target: app.port });
    db = new Database(join(app.dataDir, 'app.db'), { readonly: true });
  });

  afterAll(async () => {
    db?.close();
    await proxy?.close();
    await env?.close();
  });

  it('stores no session for 5,000 visitors who only open the login page, and one at a login', async () => {
    const before = sessionRows();
    let next = 0;
    const visit = async () => {
      while (next < 5000) {
        next += 1;
        const answer = await new FormClient(app.url).get('/login');
        if (answer.status !== 200) throw new Error(`GET /login answered ${answer.status}`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, visit));
    expect(sessionRows()).toBe(before);

    // The form they got still works: a visitor without any cookie but the form's own logs in.
    const visitor = new FormClient(app.url);
    expect((await visitor.logIn('admin', ADMIN_PASSWORD)).status).toBe(303);
    expect(sessionRows()).toBe(before + 1);
  });

  /** Logs out through the page's own form and waits for the login form. */
  async function logOut(page: Page, base: string) {
    await page.goto(`${base}/admin/sync-control`);
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/login`);
  }

  /** Submits the login form as rendered; its answer's status (303: logged in). */
  async function submitLogin(page: Page) {
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    const [answer] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === '/login' && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Log in' }).click(),
    ]);
    return answer.status();
  }

  // The flake of restart.test.ts: a page's fragment refresh (browser/app.ts fetches one after every
  // job change), sent with the session cookie just before that session was logged out and answered
  // just after the login form was rendered, made a new CSRF token and cookie, under the form. Here
  // the refresh comes from a second tab (the same cookie jar) and the proxy holds it back on purpose.
  it('keeps the login form valid when a refresh sent before the logout is answered after it', async () => {
    const { context } = env.chromium;
    const polling = await context.newPage();
    const page = await context.newPage();
    await logIn(polling, proxy.url);
    await polling.goto(`${proxy.url}/admin/sync-control`);

    const held = proxy.holdNext((req) => req.url === '/admin/sync-control/live');
    const refreshed = polling.evaluate(async () => {
      const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
      return (await fetch('/admin/sync-control/live', { headers: { 'x-csrf-token': token } })).status;
    });
    const refresh = await held;
    await logOut(page, proxy.url);
    refresh.release();
    const status = await refreshed;
    expect(await submitLogin(page)).toBe(303);
    // Logged out by then: the fragment is refused, not answered with a login page of its own.
    expect(status).toBe(401);
    await Promise.all([polling.close(), page.close()]);
  });

  it('keeps the login form valid when another tab loading a page meanwhile is sent to log in', async () => {
    const { context } = env.chromium;
    const other = await context.newPage();
    const page = await context.newPage();
    await logIn(page, proxy.url);
    await other.goto(`${proxy.url}/admin/records`);

    const held = proxy.holdNext((req) => req.url === '/admin/records');
    const reloaded = other.reload();
    const reload = await held;
    await logOut(page, proxy.url);
    reload.release();
    await reloaded;
    // That tab shows a login form too, with the same token: either form logs in.
    expect(new URL(other.url()).pathname).toBe('/login');
    expect(await submitLogin(page)).toBe(303);
    await Promise.all([other.close(), page.close()]);
  });
});
