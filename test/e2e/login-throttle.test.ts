import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormClient } from '../support/form-client.js';
import { type ForwardingProxy, startForwardingProxy } from '../support/forwarding-proxy.js';
import { ADMIN_PASSWORD, type Instance, type SingleApp, startSingleApp } from './harness.js';

// The login throttle, behind a proxy (TRUST_PROXY=1): wrong passwords wait longer and longer per
// account at one address and per address, and never lock the right password out from elsewhere.
describe('reference app: login throttle', () => {
  let env: SingleApp;
  let app: Instance;
  let proxy: ForwardingProxy;

  beforeAll(async () => {
    env = await startSingleApp(
      { keys: ['unused-key-0123456789'], delayMs: 0 },
      { TRUST_PROXY: '1', LOGIN_FREE_FAILURES: '3', LOGIN_MAX_WAIT_S: '2' },
    );
    app = env.app;
    proxy = await startForwardingProxy({ target: app.port });
  });

  afterAll(async () => {
    await proxy?.close();
    await env?.close();
  });

  /** How long an answer asks to wait (Retry-After), in seconds; 0 if it does not. */
  const retryAfter = (answer: { headers: Record<string, unknown> }) => Number(answer.headers['retry-after'] ?? 0);

  it('never stops the right password from another address, nor for long from the same one', async () => {
    // Two clients behind the same proxy: the app tells them apart by X-Forwarded-For alone.
    const x = new FormClient(proxy.url, { localAddress: '127.0.0.2' });
    const y = new FormClient(proxy.url, { localAddress: '127.0.0.3' });
    await x.get('/login');

    // X guesses as fast as it is let: 3 wrong passwords are answered at once, then each waits
    // (1 s, 2 s, 2 s…); a guess sent during a wait is refused unchecked (429) and does not count.
    const answered: number[] = [];
    const waits: number[] = [];
    let guess = 0;
    while (answered.length < 12) {
      const answer = await x.post('/login', { username: 'admin', password: `guess-${guess++}` });
      if (answer.status === 429) {
        const seconds = retryAfter(answer);
        // More than the longest wait would be a lockout.
        if (!(seconds >= 1 && seconds <= 2)) throw new Error(`asked to wait ${seconds} s`);
        expect(answer.body).toContain(`Too many wrong passwords from here: try again in ${seconds} second`);
        waits.push(seconds);
        await sleep(seconds * 1000);
      } else {
        answered.push(answer.status);
      }
    }
    expect(answered.every((status) => status === 401)).toBe(true);
    expect(waits.slice(0, 3)).toEqual([1, 2, 2]);

    // Y, elsewhere: straight in.
    expect((await y.logIn('admin', ADMIN_PASSWORD)).status).toBe(303);
    // X itself: refused unchecked for the rest of its wait, then let in.
    const early = await x.post('/login', { username: 'admin', password: ADMIN_PASSWORD });
    expect(early.status).toBe(429);
    await sleep(retryAfter(early) * 1000);
    expect((await x.post('/login', { username: 'admin', password: ADMIN_PASSWORD })).status).toBe(303);
  });

  it('answers a login whose client is gone before its address is read without a 500 or a stack', async () => {
    // The login form, read as usual; then a new connection, accepted, and the app's process stopped
    // (as a busy server would be): the client sends its login and resets the connection. When the
    // app goes on, the request is there but its connection is gone, and `req.ip` is undefined.
    const client = new FormClient(app.url);
    await client.get('/login');
    const cookies = [...client.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const body = new URLSearchParams({ _csrf: client.token, username: 'admin', password: 'wrong' }).toString();
    const socket = net.connect(app.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    await sleep(200);
    const before = app.output().length;
    process.kill(app.pid, 'SIGSTOP');
    try {
      socket.write(
        `POST /login HTTP/1.1\r\nHost: app\r\nCookie: ${cookies}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      );
      await sleep(100);
      socket.resetAndDestroy();
      await sleep(100);
    } finally {
      process.kill(app.pid, 'SIGCONT');
    }
    await sleep(500);
    const said = app.output().slice(before);
    expect(said).not.toContain('ERR_INVALID_ARG_TYPE');
    expect(said).not.toMatch(/\n\s+at /);
    // And it serves on.
    expect((await new FormClient(app.url).get('/login')).status).toBe(200);
  });
});
