import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJobRegistry, type JobRegistry } from '../../src/index.js';
import { startServer, type TestServer } from './helpers.js';

/**
 * A snapshot far larger than `maxBufferedBytes` reaches a reader that reads as fast as its socket
 * lets it: found by an outside test, where a reader in another process over a Unix socket was evicted
 * 5 times of 5 after 270–520 KB of a 3 MB snapshot (100 jobs × 30 KB). The snapshot is now written on
 * the socket's backpressure and never counts against the limit.
 */
describe('a 3 MB snapshot to a reader in another process, over a Unix socket', () => {
  let registry: JobRegistry;
  let server: TestServer;
  let dir: string;
  let socket: string;

  beforeAll(async () => {
    registry = await createJobRegistry({ onError: () => {} });
    const filler = 'x'.repeat(30_000);
    for (let i = 0; i < 100; i++) await registry.enqueue({ category: 'big', target: { n: `${i}` }, data: { filler } });
    // The default limit (1 MiB): a third of the snapshot.
    server = await startServer(registry);
    dir = await mkdtemp(join(tmpdir(), 'rj-big-'));
    socket = join(dir, 'jobs.sock');
    await server.listenAlso(socket);
  });
  afterAll(async () => {
    await server.close();
    await registry.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('arrives whole, 5 times of 5, and the reader is never evicted', async () => {
    const reader = fileURLToPath(new URL('./fixtures/snapshot-reader.mjs', import.meta.url));
    for (let run = 0; run < 5; run++) {
      const child = fork(reader, [socket], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      const result = await new Promise<{ updates: number; bytes: number; ended: boolean; error?: string }>(
        (resolve, reject) => {
          child.once('message', resolve);
          child.once('exit', (code) => reject(new Error(`the reader exited (${code}) without a result`)));
        },
      );
      child.kill();
      expect(result, `run ${run + 1}`).toMatchObject({ updates: 100, ended: false });
      expect(result.bytes).toBeGreaterThan(3_000_000);
    }
  });
});
