import { type ChildProcess, fork, spawn } from 'node:child_process';
import net from 'node:net';
import { Redis } from 'ioredis';
import type { Job } from '../../src/index.js';
import { bundleFixture } from '../support/bundle.js';
import { waitFor } from '../support/wait.js';

let fixture: Promise<string> | null = null;

/** An app instance in its own process (test/redis/fixtures/instance.ts), driven over IPC. */
export class Instance {
  #seq = 0;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  stderr = '';

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly url: string,
  ) {
    child.on('message', (message: { seq?: number; value?: unknown; error?: string }) => {
      const pending = message.seq === undefined ? undefined : this.#pending.get(message.seq);
      if (!pending) return;
      this.#pending.delete(message.seq as number);
      if (message.error !== undefined) pending.reject(new Error(`${name}: ${message.error}`));
      else pending.resolve(message.value);
    });
  }

  static async start(
    name: string,
    env: { REDIS_URL: string; PREFIX: string; LEASE_MS?: string; LOCK_FILE?: string },
  ): Promise<Instance> {
    fixture ??= bundleFixture(new URL('./fixtures/instance.ts', import.meta.url));
    const child = fork(await fixture, [], {
      env: { ...process.env, ...env, NAME: name },
      stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    });
    let stderr = '';
    child.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    const url = await new Promise<string>((resolve, reject) => {
      child.on('message', (message: { ready?: boolean; url?: string }) => {
        if (message.ready) resolve(message.url as string);
      });
      child.once('exit', (code) => reject(new Error(`instance ${name} exited (${code}) while starting: ${stderr}`)));
    });
    const instance = new Instance(name, child, url);
    child.stderr?.on('data', (chunk) => {
      instance.stderr += chunk;
    });
    return instance;
  }

  ask<T = unknown>(command: Record<string, unknown>): Promise<T> {
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      this.#pending.set(seq, { resolve: resolve as (value: unknown) => void, reject });
      this.child.send({ ...command, seq });
    });
  }

  run(category: string, steps: number, stepMs: number): Promise<Job> {
    return this.ask({ type: 'run', category, steps, stepMs });
  }

  hold(category: string, key?: string): Promise<Job> {
    return this.ask({ type: 'hold', category, key });
  }

  get(id: string): Promise<Job | null> {
    return this.ask({ type: 'get', id });
  }

  /** Dies at once, as a crashed or OOM-killed instance does. */
  async kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGKILL');
    await exited;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.ask({ type: 'close' }).catch(() => {});
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
    await this.kill();
  }
}

/** A redis-server of the test's own, on a free port, keeping nothing on disk: one it may kill and restart. */
export class PrivateRedis {
  #child: ChildProcess | null = null;

  private constructor(
    readonly port: number,
    readonly args: string[],
  ) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** `args` are more redis-server settings, e.g. `['--maxmemory-policy', 'allkeys-lru']`. */
  static async start(args: string[] = []): Promise<PrivateRedis> {
    const port = await freePort();
    const redis = new PrivateRedis(port, args);
    await redis.restart();
    return redis;
  }

  async restart(): Promise<void> {
    await this.stop();
    this.#child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.args],
      {
        stdio: 'ignore',
      },
    );
    await waitFor(() => answers(this.url), 'the private redis-server to answer', 5000);
  }

  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Whether a Redis answers PING at `url`, on one attempt. */
async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
  probe.on('error', () => {});
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}
