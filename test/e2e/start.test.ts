import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, tempDir } from './harness.js';

const START = fileURLToPath(new URL('../../examples/admin-app/build/start.js', import.meta.url));

/** Runs build/start.js (what `npm start` runs after the build) until it prints its banner. */
async function launch(env: Record<string, string>) {
  const { ADMIN_PASSWORD: _a, VIEWER_PASSWORD: _v, DEDALUS_BASE_URL: _d, ...base } = process.env;
  const child = spawn(process.execPath, [START], {
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start.js printed no banner:\n${output}`)), 20_000);
    child.stdout.on('data', () => {
      if (output.includes('Press Ctrl-C to stop.')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => reject(new Error(`start.js exited with ${code}:\n${output}`)));
  });
  return { child, exited, output: () => output };
}

/** Logs in over plain HTTP with the login form's CSRF token; answers where the login redirected. */
async function logIn(base: string, username: string, password: string): Promise<string | null> {
  return (await session(base, username, password)).location;
}

/** A login over plain HTTP: where it redirected, and the cookies of the session. */
async function session(base: string, username: string, password: string) {
  const page = await fetch(`${base}/login`);
  const cookies = page.headers.getSetCookie().map((cookie) => cookie.split(';')[0]);
  const token = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
  const response = await fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie: cookies.join('; '), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ _csrf: token, username, password }),
  });
  const location = response.status === 303 ? response.headers.get('location') : null;
  cookies.push(...response.headers.getSetCookie().map((cookie) => cookie.split(';')[0]));
  return { location, cookie: cookies.join('; ') };
}

describe('npm start (examples/admin-app/build/start.js)', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  afterAll(async () => {
    await dir?.remove();
  });

  it('starts two peers and the stand-in, prints generated passwords once, and stops cleanly on Ctrl-C', async () => {
    dir = await tempDir();
    const [port, peerPort] = [await freePort(), await freePort()];
    const env = { PORT: String(port), PEER_PORT: String(peerPort), DATA_DIR: dir.path };
    const first = await launch(env);
    const banner = first.output();
    expect(banner).toContain(`peer-a  http://127.0.0.1:${port}/login`);
    expect(banner).toContain(`peer-b  http://127.0.0.1:${peerPort}/login`);
    expect(banner).toMatch(/Dedalus http:\/\/127\.0\.0\.1:\d+ \(local stand-in/);
    const admin = /^ {4}admin +(\S+)$/m.exec(banner)?.[1] ?? '';
    const viewer = /^ {4}viewer +(\S+)$/m.exec(banner)?.[1] ?? '';
    expect(admin).toMatch(/^[a-z0-9]{4}(-[a-z0-9]{4}){3}$/);
    // The same generated passwords work on both instances.
    expect(await logIn(`http://127.0.0.1:${port}`, 'admin', admin)).toBe('/admin/sync-control');
    expect(await logIn(`http://127.0.0.1:${peerPort}`, 'viewer', viewer)).toBe('/account');
    expect(await logIn(`http://127.0.0.1:${port}`, 'admin', viewer)).toBeNull();

    // The Dedalus page says its calls go to the stand-in start.js runs, and gives the demo key.
    const standIn = /Dedalus (http:\/\/127\.0\.0\.1:\d+) \(local stand-in; a valid key is (\S+)\)/.exec(banner);
    const admin1 = await session(`http://127.0.0.1:${port}`, 'admin', admin);
    const dedalus = await (
      await fetch(`http://127.0.0.1:${port}/admin/dedalus`, { headers: { cookie: admin1.cookie } })
    ).text();
    expect(dedalus).toContain(`a <strong>local stand-in</strong> of the Dedalus API at <code>${standIn?.[1]}</code>`);
    expect(dedalus).toContain(`Its demo key is <code data-field="demo-key">${standIn?.[2]}</code>`);

    expect(existsSync(join(dir.path, 'peer-a', 'jobs.jsonl.lock'))).toBe(true);
    first.child.kill('SIGINT');
    expect(await first.exited).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/login`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${peerPort}/login`)).rejects.toThrow();
    // Each instance released its job log (the lock goes with a clean close).
    expect(existsSync(join(dir.path, 'peer-a', 'jobs.jsonl.lock'))).toBe(false);

    const second = await launch(env);
    expect(second.output()).not.toContain(admin);
    expect(second.output()).toContain('with the passwords printed on the first start');
    expect(await logIn(`http://127.0.0.1:${port}`, 'admin', admin)).toBe('/admin/sync-control');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
