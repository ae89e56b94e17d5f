import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, SseClient } from '../contract/client.js';
import { waitFor } from '../support/wait.js';
import {
  type Instance,
  jobAction,
  latestJob,
  logIn,
  type SingleApp,
  startSingleApp,
  VIEWER_PASSWORD,
} from './harness.js';

// Accounts, sessions, CSRF and headers of the reference app, in real Chromium against a real instance.
describe('reference app: accounts and protection', () => {
  let env: SingleApp;
  let app: Instance;
  let chromium: SingleApp['chromium'];

  beforeAll(async () => {
    env = await startSingleApp({ keys: ['unused-key-0123456789'], delayMs: 0 });
    ({ app, chromium } = env);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('sends a logged-out visitor to the login page, and the job API answers 401', async () => {
    const page = await chromium.context.newPage();
    const response = await page.goto(`${app.url}/admin/sync-control`);
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/admin/sync-control');
    expect(response?.status()).toBe(200);
    const api = await page.request.get(`${app.url}/api/admin/jobs`);
    expect(api.status()).toBe(401);
    expect((await api.json()).error.code).toBe('unauthorized');
    await page.close();
  });

  it('refuses a wrong password and lets the admin in with the right one, back to the page asked for', async () => {
    const page = await chromium.context.newPage();
    await page.goto(`${app.url}/admin/jobs`);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not the password');
    const [refused] = await Promise.all([
      page.waitForResponse((r) => r.url().endsWith('/login') && r.request().method() === 'POST'),
      page.getByRole('button', { name: 'Log in' }).click(),
    ]);
    expect(refused.status()).toBe(401);
    await page.getByText('Wrong username or password.').waitFor();
    await page.getByLabel('Password').fill('e2e-admin-password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL(`${app.url}/admin/jobs`);
    await page.getByRole('heading', { name: 'Job history' }).waitFor();

    const cookies = await chromium.context.cookies(app.url);
    const sessionCookie = cookies.find((cookie) => cookie.name === 'sid_peer_a');
    expect(sessionCookie?.httpOnly).toBe(true);
    expect(sessionCookie?.sameSite).toBe('Lax');
    const csrfCookie = cookies.find((cookie) => cookie.name === 'csrf_peer_a');
    expect(csrfCookie?.sameSite).toBe('Strict');
    await page.close();
  });

  it('sends security headers on pages', async () => {
    const page = await chromium.context.newPage();
    const response = await page.goto(`${app.url}/login`);
    const headers = response?.headers() ?? {};
    expect(headers['content-security-policy']).toContain("script-src 'self'");
    expect(headers['x-content-type-options']).toBe('nosniff');
    expect(headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(headers['x-powered-by']).toBeUndefined();
    await page.close();
  });

  it('refuses a POST without the CSRF token with 403, and accepts it with the token', async () => {
    const page = await chromium.context.newPage();
    await logIn(page, app.url);
    await page.goto(`${app.url}/admin/dedalus`);
    const results = await page.evaluate(async () => {
      const post = (headers: Record<string, string>) =>
        fetch('/admin/dedalus/verify', { method: 'POST', headers: { accept: 'application/json', ...headers } });
      const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
      const without = await post({});
      const forged = await post({ 'x-csrf-token': `${token.slice(0, -4)}beef` });
      const withToken = await post({ 'x-csrf-token': token });
      return {
        without: without.status,
        body: await without.json(),
        forged: forged.status,
        withToken: withToken.status,
      };
    });
    expect(results.without).toBe(403);
    expect(results.body.error.message).toContain('CSRF');
    expect(results.forged).toBe(403);
    expect(results.withToken).toBe(202);

    // A plain form post from a page that lost its token gets the 403 page, not the action.
    const form = await page.request.post(`${app.url}/admin/records`, { form: { title: 'forged' } });
    expect(form.status()).toBe(403);
    await page.goto(`${app.url}/admin/records`);
    expect(await page.getByText('forged', { exact: true }).count()).toBe(0);
    await page.close();
  });

  it('gives the non-admin user 403 on admin pages and on the job API', async () => {
    const page = await chromium.context.newPage();
    await logIn(page, app.url, 'viewer', VIEWER_PASSWORD);
    expect(new URL(page.url()).pathname).toBe('/account');
    for (const path of ['/admin/sync-control', '/admin/dedalus', '/admin/jobs', '/admin/records']) {
      const response = await page.goto(`${app.url}${path}`);
      expect(response?.status(), path).toBe(403);
      await page.getByRole('heading', { name: /Forbidden/ }).waitFor();
    }
    const api = await page.request.get(`${app.url}/api/admin/jobs`);
    expect(api.status()).toBe(403);
    const stream = await page.request.get(`${app.url}/api/admin/jobs/events`);
    expect(stream.status()).toBe(403);
    const post = await page.evaluate(async () => {
      const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
      const r = await fetch('/admin/sync-control/peer-b/push', {
        method: 'POST',
        headers: { accept: 'application/json', 'x-csrf-token': token },
      });
      return r.status;
    });
    expect(post).toBe(403);
    await page.close();
  });

  /** The page's session cookie, to open a stream from here with the same login. */
  async function sessionCookie(): Promise<string> {
    const cookie = (await chromium.context.cookies(app.url)).find((c) => c.name === 'sid_peer_a');
    if (!cookie) throw new Error('no session cookie');
    return `${cookie.name}=${cookie.value}`;
  }

  /** Starts a Dedalus verify job through the page's own session and CSRF token; returns its id. */
  async function startJob(page: Page): Promise<string> {
    await page.goto(`${app.url}/admin/dedalus`);
    return page.evaluate(async () => {
      const token = document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? '';
      const response = await fetch('/admin/dedalus/verify', {
        method: 'POST',
        headers: { accept: 'application/json', 'x-csrf-token': token },
      });
      return ((await response.json()) as { job: { id: string } }).job.id;
    });
  }

  it("takes the job API's actions from the app's own pages only, and from admins only", async () => {
    const page = await chromium.context.newPage();
    await logIn(page, app.url);
    const id = await startJob(page);
    await waitFor(async () => (await latestJob(page, app.url, 'dedalus-verify'))?.state === 'error', 'the job to end');

    // A request that no page of the app sent (no X-Realtime-Jobs, no Sec-Fetch-Site): refused.
    const bare = await page.request.post(`${app.url}/api/admin/jobs/${id}/retry`);
    expect(bare.status()).toBe(403);
    expect((await bare.json()).error.message).toContain('X-Realtime-Jobs: 1');
    // A form on a sibling origin (another port of the same host: the same site, so the Lax session
    // cookie goes along): the browser says `Sec-Fetch-Site: same-site`, which is not the proof.
    const form = `<form method="post" action="${app.url}/api/admin/jobs/${id}/retry"><button>Win</button></form>`;
    const sibling = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(form));
    await new Promise<void>((resolve) => sibling.listen(0, '127.0.0.1', resolve));
    const other = await chromium.context.newPage();
    await other.goto(`http://127.0.0.1:${(sibling.address() as AddressInfo).port}/`);
    const [forged] = await Promise.all([
      other.waitForResponse((r) => r.url().endsWith(`/api/admin/jobs/${id}/retry`)),
      other.getByRole('button', { name: 'Win' }).click(),
    ]);
    expect(forged.status()).toBe(403);
    await other.close();
    sibling.closeAllConnections();
    await new Promise((resolve) => sibling.close(resolve));
    expect((await latestJob(page, app.url, 'dedalus-verify'))?.id).toBe(id);

    // The page's own request, as its script sends it: the admin may.
    const own = await jobAction(page, id, 'retry');
    expect(own.status).toBe(200);
    expect(own.job.retryOf).toBe(id);
    // A viewer may take no action: the job API refuses them before any action is considered.
    await logIn(page, app.url, 'viewer', VIEWER_PASSWORD);
    expect(await jobAction(page, id, 'cancel')).toMatchObject({ status: 403, error: { code: 'forbidden' } });
    await page.close();
  });

  it('ends a job stream opened before logout with `denied`, and sends it no job update after', async () => {
    const page = await chromium.context.newPage();
    await logIn(page, app.url);
    const before = await sessionCookie();
    const stream = await SseClient.open(`${app.url}/api/admin/jobs/events`, { cookie: before });
    expect(stream.status).toBe(200);
    await stream.ready();

    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${app.url}/login`);
    // Well before any periodic re-check (60 s by default): the logout hook ended it.
    await stream.closedByServer();
    expect(stream.events.at(-1)).toEqual({ id: undefined, event: 'denied', data: '{"reason":"unauthorized"}' });
    const seen = stream.events.length;

    // The admin logs in again and starts a job: a new stream gets it, the old one got nothing more.
    await logIn(page, app.url);
    const fresh = await SseClient.open(`${app.url}/api/admin/jobs/events`, { cookie: await sessionCookie() });
    await fresh.ready();
    const jobId = await startJob(page);
    await fresh.until(() => fresh.jobs().some((job) => job.id === jobId), 'the new job on the new stream');
    fresh.close();
    expect(stream.events.length).toBe(seen);
    expect(stream.jobs().some((job) => job.id === jobId)).toBe(false);
    // And the logged-out session cannot open another.
    expect((await request(`${app.url}/api/admin/jobs/events`, { headers: { cookie: before } })).status).toBe(401);
    await page.close();
  });
});
