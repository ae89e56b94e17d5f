import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { bundleFixture } from '../support/bundle.js';
import { waitFor } from '../support/wait.js';
import { BUNDLE, LIST_BUNDLE, ROOT } from './server.js';

const CACHE = join(ROOT, 'node_modules', '.cache', 'realtime-jobs-browser-tests');

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/**
 * Makes sure both browser bundles (`dist/browser/realtime-jobs.js`, `-list.js`) exist and are newer than their sources, running the real
 * build (`npx tsup`) once when it is not. A lock directory keeps parallel test files from building twice.
 */
export async function ensureBundle(): Promise<void> {
  // Everything the bundle is built from: the browser code and the protocol module it imports.
  const sources = Math.max(
    ...(await Promise.all(['client', 'html', 'protocol'].map((dir) => newestSource(join(ROOT, 'src', dir))))),
  );
  const fresh = () =>
    [BUNDLE, LIST_BUNDLE].every((bundle) => existsSync(bundle) && statSync(bundle).mtimeMs >= sources);
  if (fresh()) return;
  await mkdir(CACHE, { recursive: true });
  const lock = join(CACHE, 'build.lock');
  // The first test file to take the lock builds; the others wait for the bundle it makes (or, should
  // its build fail, take the lock in turn).
  let building = false;
  const takeLock = async () => {
    building = await mkdir(lock).then(
      () => true,
      () => false,
    );
    return building;
  };
  await waitFor(async () => fresh() || (await takeLock()), 'the browser bundle to be built', 120_000);
  if (!building) return;
  try {
    if (!fresh()) await promisify(execFile)('npx', ['tsup'], { cwd: ROOT, maxBuffer: 1 << 24 });
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Bundles the crash server for `node` (packages stay external and resolve from the repo). */
export async function bundleCrashServer(): Promise<string> {
  return bundleFixture(join(ROOT, 'test', 'browser', 'crash-server.ts'));
}

export interface ChildServer {
  port: number;
  kill(): Promise<void>;
}

/** Starts the bundled crash server as a child process and waits until it listens. */
export async function startChildServer(script: string, env: Record<string, string>): Promise<ChildServer> {
  const child: ChildProcess = spawn(process.execPath, [script], {
    env: { ...process.env, REALTIME_JOBS_ROOT: ROOT, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (chunk) => {
      output += chunk;
      const line = output.split('\n').find((text) => text.startsWith('{'));
      if (line) resolve(JSON.parse(line).port);
    });
    child.stderr?.on('data', (chunk) => {
      output += chunk;
    });
    child.once('exit', (code) => reject(new Error(`crash server exited (${code}): ${output}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    port,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** Waits until `fn` (run in the page) is truthy; a readable failure instead of a bare timeout. */
export async function waitInPage<Arg>(
  page: Page,
  what: string,
  fn: (arg: Arg) => unknown,
  arg?: Arg,
  timeout = 10_000,
): Promise<void> {
  try {
    await page.waitForFunction(fn as never, arg as never, { timeout, polling: 50 });
  } catch (error) {
    throw new Error(`Timed out after ${timeout} ms waiting for: ${what}`, { cause: error });
  }
}
