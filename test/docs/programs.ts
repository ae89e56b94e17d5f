import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { expect } from 'vitest';
import { launchChromium } from '../support/browser.js';
import { SseClient } from '../support/sse-client.js';
import type { ProjectKind } from './projects.js';

const HOOK = fileURLToPath(new URL('./listen-hook.mjs', import.meta.url));
const API = '/api/admin/jobs';

/** A program of the docs, started in its project with `node`, on the port it was given. */
export class RunningProgram {
  output = '';
  readonly exited: Promise<number | null>;

  private constructor(
    readonly child: ChildProcess,
    readonly cwd: string,
    public base: string,
  ) {
    child.stdout?.on('data', (chunk) => {
      this.output += chunk;
    });
    child.stderr?.on('data', (chunk) => {
      this.output += chunk;
    });
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  static async start(dir: string, file: string, env: Record<string, string>): Promise<RunningProgram> {
    const child = spawn(process.execPath, ['--import', HOOK, file], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const program = new RunningProgram(child, dir, '');
    const listening = new Promise<{ address: string; port: number }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('it did not listen within 15 s')), 15_000);
      child.on('message', (message: { listening?: { address: string; port: number } }) => {
        if (!message.listening) return;
        clearTimeout(timer);
        resolve(message.listening);
      });
      void program.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`it exited with code ${code} before it listened`));
      });
    });
    try {
      const { address, port } = await listening;
      const host = address === '::' || address === '0.0.0.0' ? '127.0.0.1' : address;
      program.base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      return program;
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`${file} in ${dir}: ${(error as Error).message}\n${program.output}`);
    }
  }

  /** Sends `signal` and resolves with the exit code, or rejects if it is still running after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 5000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running ${timeoutMs} ms after ${signal}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

type Headers = Record<string, string>;

/** Nobody logged in: the list, the stream and the program's own job route answer 401. */
export async function expectUnauthorized(base: string, start?: string): Promise<void> {
  expect((await fetch(`${base}${API}`)).status).toBe(401);
  const stream = await SseClient.open(`${base}${API}/events`);
  expect(stream.status).toBe(401);
  stream.close();
  if (start) expect((await fetch(`${base}${start}`, { method: 'POST' })).status).toBe(401);
}

/**
 * Logged in: a stream reaches `ready`, a POST to the program's route answers 202 with a queued job,
 * the stream carries that job to `success`, and the job route answers it. Returns the open stream.
 */
export async function expectJobRuns(
  base: string,
  headers: Headers,
  start: string,
  category: string,
  timeoutMs = 10_000,
): Promise<SseClient> {
  const stream = await SseClient.open(`${base}${API}/events`, headers);
  expect(stream.status).toBe(200);
  await stream.ready();
  const answer = await fetch(`${base}${start}`, {
    method: 'POST',
    headers: { ...headers, accept: 'application/json' },
  });
  expect(answer.status).toBe(202);
  const job = (await answer.json()) as { id: string; category: string };
  expect(job.category).toBe(category);
  const states = () => stream.jobs().filter((update) => update.id === job.id);
  await stream.until(
    () => states().some((update) => update.state === 'success'),
    `${category} job ${job.id} to succeed on the stream`,
    timeoutMs,
  );
  expect(states().map((update) => update.state)).toContain('running');
  const stored = await fetch(`${base}${API}/${job.id}`, { headers });
  expect(stored.status).toBe(200);
  expect(((await stored.json()) as { state: string }).state).toBe('success');
  return stream;
}

/** Waits for a `<job-status>` to reach `state`, saying what it shows instead when it does not. */
async function waitForState(page: Page, selector: string, state: string): Promise<void> {
  await page
    .waitForFunction(([sel, want]) => document.querySelector(sel!)?.getAttribute('state') === want, [selector, state], {
      timeout: 15_000,
    })
    .catch(async (error) => {
      const shown = await page
        .locator(selector)
        .getAttribute('state')
        .catch(() => null);
      throw new Error(`${selector} never reached ${state} (it is ${shown})`, { cause: error });
    });
}

/** POST /login of the programs that stand a login in: the session cookie it sets. */
async function logIn(base: string): Promise<Headers> {
  const answer = await fetch(`${base}/login`, { method: 'POST', redirect: 'manual' });
  expect([204, 303]).toContain(answer.status);
  const cookie = answer.headers.get('set-cookie')?.split(';')[0];
  expect(cookie).toBeTruthy();
  return { cookie: cookie! };
}

/** The header a login proxy would set, for the programs that read one. */
const PROXY_USER = { 'x-admin-user': 'alice' };

export interface Program {
  project: Exclude<ProjectKind, 'types'>;
  /** CommonJS programs run in a folder whose package.json has no `"type": "module"`. */
  module: 'esm' | 'cjs';
  /** Drives the running program; `project` is the project folder (its node_modules). */
  check(program: RunningProgram, project: string): Promise<void>;
}

const SESSION_SECRET = 'docs-test-session-secret-of-some-length';
export const PROGRAM_ENV = { SESSION_SECRET };

export const PROGRAMS: Record<string, Program> = {
  readme: {
    project: 'express',
    module: 'esm',
    async check({ base }) {
      await expectUnauthorized(base, '/admin/sync/push');
      const session = await logIn(base);
      (await expectJobRuns(base, session, '/admin/sync/push', 'sync-push')).close();
      const form = await fetch(`${base}/admin/sync/push`, {
        method: 'POST',
        headers: { ...session, accept: 'text/html' },
        redirect: 'manual',
      });
      expect(form.status).toBe(303);
    },
  },
  'getting-started': {
    project: 'express',
    module: 'esm',
    async check(program, project) {
      const { base } = program;
      await expectUnauthorized(base, '/admin/reindex');
      const loggedOut = await fetch(`${base}/admin`);
      expect(loggedOut.status).toBe(401);
      expect(await loggedOut.text()).toContain('<form method="post" action="/login">');
      const session = await logIn(base);

      // The page: the tile, outside any comment; the button inside a form that posts to step 5's route.
      const page = await (await fetch(`${base}/admin`, { headers: session })).text();
      expect(page.replace(/<!--[\s\S]*?-->/g, '')).toMatch(/<job-status[^>]* action="reindex"/);
      expect(page).toMatch(
        /<form method="post" action="\/admin\/reindex">\s*<button data-job-control data-job-action="reindex">/,
      );
      expect(page).toContain('<meta name="realtime-jobs-endpoint" content="/api/admin/jobs">');
      const src = /<script type="module" src="([^"]+)"><\/script>/.exec(page)?.[1];
      expect(src).toBe('/assets/realtime-jobs.js');
      const bundle = await fetch(`${base}${src}`);
      expect(bundle.status).toBe(200);
      expect(bundle.headers.get('content-type')).toMatch(/^text\/javascript/);
      const shipped = join(project, 'node_modules', 'realtime-jobs', 'dist', 'browser', 'realtime-jobs.js');
      expect(await bundle.text()).toBe(readFileSync(shipped, 'utf8'));

      // The form, as a browser without JavaScript posts it: back to the page, which now shows the job.
      const form = await fetch(`${base}/admin/reindex`, {
        method: 'POST',
        headers: { ...session, accept: 'text/html', 'content-type': 'application/x-www-form-urlencoded' },
        redirect: 'manual',
      });
      expect(form.status).toBe(303);
      expect(form.headers.get('location')).toBe('/admin');
      const busy = await (await fetch(`${base}/admin`, { headers: session })).text();
      expect(busy).toMatch(/<job-status[^>]* state="(queued|running)"/);

      // The same key while that job runs: the same job; the stream carries it to success.
      const stream = await expectJobRuns(base, session, '/admin/reindex', 'reindex');
      expect(new Set(stream.jobs().map((job) => job.id)).size).toBe(1);
      const progress = stream.jobs().map((job) => job.progress);
      expect(progress.some((value) => typeof value === 'number' && value > 0 && value < 1)).toBe(true);

      // In Chromium, as a reader of the guide clicks through it.
      const chromium = await launchChromium();
      try {
        const tab = await chromium.context.newPage();
        await tab.goto(`${base}/admin`);
        await tab.getByRole('button', { name: 'Log in as alice' }).click();
        await tab.waitForURL(`${base}/admin`);
        const tile = 'job-status[action="reindex"]';
        await waitForState(tab, tile, 'success'); // the job the requests above ran, live
        const button = tab.getByRole('button', { name: 'Rebuild the search index' });
        await button.click();
        // Back on the page: the button locks once the feed has the running job, and unlocks when it ends.
        const control = (state: string, disabled: boolean) =>
          tab.waitForFunction(
            ([want, locked]) => {
              const button = document.querySelector<HTMLButtonElement>('[data-job-control]');
              return button?.getAttribute('data-job-state') === want && button.disabled === locked;
            },
            [state, disabled] as const,
            { timeout: 15_000 },
          );
        await control('running', true);
        await waitForState(tab, tile, 'success');
        await control('success', false);
        expect(await tab.locator(tile).getAttribute('connection')).toBe('live');
      } finally {
        await chromium.close();
      }

      // Logout ends the user's stream with `denied`.
      const logout = await fetch(`${base}/logout`, { method: 'POST', headers: session, redirect: 'manual' });
      expect(logout.status).toBe(303);
      await stream.until(() => stream.ofType('denied').length === 1, 'denied after logout');
      await stream.closedByServer();
      expect((await fetch(`${base}${API}`, { headers: session })).status).toBe(401);

      // Ctrl-C: the server closes, the registry flushes, the process ends by itself.
      expect(await program.stop('SIGINT')).toBe(0);
      expect(readFileSync(join(program.cwd, 'data', 'realtime_jobs.jsonl'), 'utf8')).toContain('"reindex"');
    },
  },
  'express-mount': {
    project: 'express',
    module: 'esm',
    async check({ base }) {
      await expectUnauthorized(base);
    },
  },
  'express-cjs': {
    project: 'express',
    module: 'cjs',
    async check({ base }) {
      await expectUnauthorized(base, '/admin/reindex');
      (await expectJobRuns(base, PROXY_USER, '/admin/reindex', 'reindex')).close();
    },
  },
  'fastify-esm': {
    project: 'fastify',
    module: 'esm',
    async check({ base }) {
      await expectUnauthorized(base, '/admin/reindex');
      (await expectJobRuns(base, PROXY_USER, '/admin/reindex', 'reindex')).close();
    },
  },
  'fastify-cjs': {
    project: 'fastify',
    module: 'cjs',
    async check({ base }) {
      await expectUnauthorized(base, '/admin/reindex');
      (await expectJobRuns(base, PROXY_USER, '/admin/reindex', 'reindex')).close();
    },
  },
  hono: {
    project: 'hono',
    module: 'esm',
    async check({ base }) {
      await expectUnauthorized(base, '/admin/reindex');
      (await expectJobRuns(base, PROXY_USER, '/admin/reindex', 'reindex')).close();
    },
  },
};
