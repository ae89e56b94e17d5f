import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launchChromium } from '../support/browser.js';
import { ensureBuilt } from '../support/build.js';
import { bundleFixture } from '../support/bundle.js';
import { BUNDLE, LIST_BUNDLE, ROOT } from './server.js';

/**
 * Makes sure both browser bundles (`dist/browser/realtime-jobs.js`, `-list.js`) exist and are newer
 * than their sources: the browser code and the html and protocol modules it imports (see {@link ensureBuilt}).
 */
export async function ensureBundle(): Promise<void> {
  await ensureBuilt([BUNDLE, LIST_BUNDLE], ['client', 'html', 'protocol'], 'the browser bundle to be built');
}

/**
 * Chromium for the tests of one file, the browser bundles built first: launched before them (its
 * context handed to `launched`), closed after them.
 */
export function useChromium(launched: (context: BrowserContext) => void): void {
  let chromium: Awaited<ReturnType<typeof launchChromium>> | undefined;
  beforeAll(async () => {
    await ensureBundle();
    chromium = await launchChromium();
    launched(chromium.context);
  });
  afterAll(async () => {
    await chromium?.close();
  });
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
