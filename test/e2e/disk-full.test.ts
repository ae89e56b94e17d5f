import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormClient } from '../support/form-client.js';
import { ADMIN_PASSWORD, freePort, type Instance, startDedalusStandIn, startInstance } from './harness.js';

/**
 * A real full disk: the instance's data folder on a tmpfs of a few megabytes, filled up with a file
 * of the test's own. Mounting one needs root (CAP_SYS_ADMIN), as in CI.
 */
function mountSmallDisk(): string {
  const path = mkdtempSync(join(tmpdir(), 'realtime-jobs-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', path], { stdio: 'pipe' });
  } catch (error) {
    rmSync(path, { recursive: true, force: true });
    throw new Error(`the disk-full test mounts a tmpfs, which needs root: ${(error as Error).message}`);
  }
  return path;
}

/** Writes `path` until the disk has no byte left. */
function fillUp(path: string) {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  try {
    for (let size = chunk.length; size >= 1; ) {
      try {
        writeSync(fd, chunk, 0, size);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
        size = Math.floor(size / 2);
      }
    }
  } finally {
    closeSync(fd);
  }
}

// The database cannot grow: a new record is answered 503 with a page that says why, and nothing
// breaks on the way (no 500, no headers sent twice); with room again it is stored.
describe('reference app: a full disk', () => {
  let disk: string;
  let standIn: Awaited<ReturnType<typeof startDedalusStandIn>>;
  let app: Instance;
  let admin: FormClient;
  const filler = () => join(disk, 'filler');

  beforeAll(async () => {
    disk = mountSmallDisk();
    standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
    app = await startInstance({
      name: 'peer-a',
      port: await freePort(),
      dataDir: disk,
      peers: { 'peer-b': await freePort() },
      dedalusUrl: standIn.url,
      // As deployed: under NODE_ENV=test (vitest's) Express would not log what went wrong after an answer.
      env: { NODE_ENV: 'production' },
    });
    admin = new FormClient(app.url);
    expect((await admin.logIn('admin', ADMIN_PASSWORD)).status).toBe(303);
  });

  afterAll(async () => {
    await app?.stop();
    await standIn?.close();
    if (disk) {
      execFileSync('umount', [disk]);
      rmSync(disk, { recursive: true, force: true });
    }
  });

  it('answers a new record 503 with a page that says the disk is full, and stores it once there is room', async () => {
    expect((await admin.get('/admin/records')).status).toBe(200);
    // A message waits in the session for the next page: reading it changes the session, which
    // express-session then saves after the answer went out, on the full disk too.
    expect((await admin.post('/admin/records/signing', { sign: 'on' })).status).toBe(303);
    fillUp(filler());

    // The page shows the waiting message; saving the session without it fails after the answer.
    const shown = await admin.get('/admin/records');
    expect(shown.status).toBe(200);
    expect(shown.body).toContain('Outgoing bundles are signed.');

    const full = await admin.post('/admin/records', { title: 'Written on a full disk', body: 'Kept?' });
    expect(full.status).toBe(503);
    expect(full.headers['content-type']).toContain('text/html');
    expect(full.body).toContain('<h1>Disk full (503)</h1>');
    expect(full.body).toContain('The server’s disk is full, so nothing was saved.');
    expect((await admin.get('/admin/records')).body).not.toContain('Written on a full disk');

    rmSync(filler());
    const again = await admin.post('/admin/records', { title: 'Written on a full disk', body: 'Kept?' });
    expect(again.status).toBe(303);
    expect((await admin.get('/admin/records')).body).toContain('Written on a full disk');
    expect(app.output()).not.toContain('ERR_HTTP_HEADERS_SENT');
    expect(app.output()).not.toMatch(/\n\s+at /);
  });
});
