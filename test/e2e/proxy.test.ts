import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../support/browser.js';
import { type ForwardingProxy, startForwardingProxy } from '../support/forwarding-proxy.js';
import { selfSignedCertificate } from '../support/tls.js';
import { freePort, type Instance, logIn, startDedalusStandIn, startInstance, tempDir } from './harness.js';

// The app behind a proxy that terminates HTTPS, as deployed: TRUST_PROXY lets it see the client's
// https (so Secure cookies are set) and address.
describe('reference app: behind an HTTPS proxy (TRUST_PROXY)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let standIn: Awaited<ReturnType<typeof startDedalusStandIn>>;
  let app: Instance;
  let proxy: ForwardingProxy;
  let chromium: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;

  const start = async (env: Record<string, string>, name = 'peer-a') =>
    startInstance({
      name,
      port: await freePort(),
      dataDir: dir.path,
      peers: { 'peer-b': await freePort() },
      dedalusUrl: standIn.url,
      env,
    });

  beforeAll(async () => {
    dir = await tempDir();
    standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
    app = await start({ COOKIE_SECURE: '1', TRUST_PROXY: '1' });
    proxy = await startForwardingProxy({ target: app.port, tls: await selfSignedCertificate() });
    chromium = await launchChromium({ ignoreHTTPSErrors: true });
    page = await chromium.context.newPage();
  });

  afterAll(async () => {
    await page?.close();
    await chromium?.close();
    await proxy?.close();
    await app?.stop();
    await standIn?.close();
    await dir?.remove();
  });

  it('logs in over https with COOKIE_SECURE=1, every cookie Secure', async () => {
    await logIn(page, proxy.url);
    expect(new URL(page.url()).pathname).toBe('/admin/sync-control');
    await page.getByRole('heading', { name: 'Sync control' }).waitFor();
    const cookies = await chromium.context.cookies(proxy.url);
    expect(cookies.map((cookie) => cookie.name).sort()).toEqual(['csrf_peer_a', 'pre_peer_a', 'sid_peer_a']);
    for (const cookie of cookies)
      expect({ name: cookie.name, secure: cookie.secure }).toEqual({ name: cookie.name, secure: true });
    // Every request reached the app through the proxy, which said how the client came.
    expect(proxy.requests.every((request) => request.headers['x-forwarded-proto'] === 'https')).toBe(true);
    const response = await page.goto(`${proxy.url}/admin/records`);
    expect(response?.headers()['strict-transport-security']).toContain('max-age=');
  });

  it('refuses to start with a TRUST_PROXY it cannot read, and says why', async () => {
    const cases: Array<[string, string]> = [
      ['true', 'TRUST_PROXY=true would trust every hop'],
      ['10.0.0.300', 'TRUST_PROXY must be a hop count (1) or addresses and subnets'],
      ['loopback, proxy.example', 'TRUST_PROXY must be a hop count (1) or addresses and subnets'],
      ['99', 'TRUST_PROXY: 99 proxies'],
    ];
    for (const [value, reason] of cases) {
      // Another instance name, so nothing but the setting stands in its way.
      const outcome = await start({ TRUST_PROXY: value }, 'peer-c').then(
        async (started) => {
          await started.stop();
          return 'started';
        },
        (error: Error) => error.message,
      );
      expect(outcome, value).toContain(reason);
      expect(outcome, value).not.toMatch(/\n\s+at /);
    }
  });
});
