import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import { startDedalusStandIn } from '../../examples/admin-app/lib/dedalus-standin.js';
import { launchChromium } from '../support/browser.js';
import { type ForwardingProxy, startForwardingProxy } from '../support/forwarding-proxy.js';

export { startDedalusStandIn };

/** The app as `npm start` runs it: compiled to build/ (test/support/global-setup.ts compiles it first). */
const SERVER = fileURLToPath(new URL('../../examples/admin-app/build/server.js', import.meta.url));
export const ADMIN_PASSWORD = 'e2e-admin-password';
export const VIEWER_PASSWORD = 'e2e-viewer-password';
export const GOOD_KEY = 'dsk-e2e-good-key-0123456789';
export const SYNC_SECRET = 'e2e-sync-secret-shared-by-both-instances';

/** A port nobody listens on right now (bound, read, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function tempDir(): Promise<{ path: string; remove(): Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'realtime-jobs-e2e-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

export interface Instance {
  name: string;
  url: string;
  port: number;
  /** Its process id. */
  pid: number;
  /** Its own data folder (`app.db`, `jobs.jsonl`). */
  dataDir: string;
  /** Graceful stop (SIGTERM, as Ctrl-C does). */
  stop(): Promise<void>;
  /** A crash: SIGKILL, nothing flushed or finished. */
  kill(): Promise<void>;
  output(): string;
}

export interface InstanceOptions {
  name: string;
  port: number;
  dataDir: string;
  peers: Record<string, number>;
  dedalusUrl: string;
  paceMs?: number;
  sign?: boolean;
  /** More environment, e.g. `REDIS_URL`. */
  env?: Record<string, string>;
}

/** Starts one instance of the reference app as its own process, the way `npm start` does. */
export async function startInstance(options: InstanceOptions): Promise<Instance> {
  const env = {
    ...process.env,
    INSTANCE_NAME: options.name,
    PORT: String(options.port),
    HOST: '127.0.0.1',
    DATA_DIR: options.dataDir,
    PEERS: Object.entries(options.peers)
      .map(([name, port]) => `${name}=http://127.0.0.1:${port}`)
      .join(','),
    DEDALUS_BASE_URL: options.dedalusUrl,
    ADMIN_PASSWORD,
    VIEWER_PASSWORD,
    SYNC_SECRET,
    SYNC_PACE_MS: String(options.paceMs ?? 40),
    SYNC_SIGN: options.sign === false ? '0' : '1',
    SEED_RECORDS: '8',
    ...options.env,
  };
  const child: ChildProcess = spawn(process.execPath, [SERVER], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name} did not start:\n${output}`)), 15_000);
    const check = () => {
      if (output.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${options.name} exited with ${code}:\n${output}`));
    });
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return {
    name: options.name,
    port: options.port,
    pid: child.pid as number,
    dataDir: join(options.dataDir, options.name),
    url: `http://127.0.0.1:${options.port}`,
    stop: () => signal('SIGTERM'),
    kill: () => signal('SIGKILL'),
    output: () => output,
  };
}

/**
 * Matches a push's call that sends chunk `n` of its transfer, for a proxy between peers to hold
 * (`startForwardingProxy().holdNext`): the push stays mid-transfer for as long as a test needs.
 */
export const isChunkCall = (n: number) => (req: IncomingMessage) =>
  req.method === 'PUT' && (req.url ?? '').endsWith(`/chunks/${n}`);

/** Logs in through the real form, labelled "Username" and "Password". */
export async function logIn(page: Page, base: string, username = 'admin', password = ADMIN_PASSWORD) {
  await page.goto(`${base}/login`);
  if (!new URL(page.url()).pathname.startsWith('/login')) {
    // Already logged in on this instance (one browser profile per suite): log out through the form first.
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.waitForURL(`${base}/login`);
  }
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.waitForURL((url) => !url.pathname.startsWith('/login'));
}

/** The selector of the `<job-status>` tile following one action (category) for one target. */
export function tileSelector(action: string, targetField: string, target: string): string {
  return `job-status[action="${action}"][target-field="${targetField}"][target="${target}"]`;
}

/** Waits until the tile reflects this state (the element sets `state` live, the server renders it). */
export async function waitForTileState(page: Page, selector: string, states: string | string[], timeout = 15_000) {
  const wanted = Array.isArray(states) ? states : [states];
  try {
    await page.waitForFunction(
      ([sel, list]) => (list as string[]).includes(document.querySelector(sel as string)?.getAttribute('state') ?? ''),
      [selector, wanted] as const,
      { timeout, polling: 50 },
    );
  } catch (error) {
    const actual = await page
      .locator(selector)
      .getAttribute('state')
      .catch(() => null);
    throw new Error(`${selector} never reached ${wanted.join('/')} (it is ${actual})`, { cause: error });
  }
}

/** The newest job of a category, through the job API with the page's own session. */
export async function latestJob(page: Page, base: string, category: string, target?: [string, string]) {
  const query = new URLSearchParams({ category, limit: '1' });
  if (target) query.set(`target.${target[0]}`, target[1]);
  const response = await page.request.get(`${base}/api/admin/jobs?${query}`);
  if (!response.ok()) throw new Error(`GET /api/admin/jobs answered ${response.status()}`);
  const { jobs } = (await response.json()) as {
    jobs: Array<Record<string, unknown> & { id: string; state: string; message: string | null }>;
  };
  return jobs[0] ?? null;
}

export interface JobDetail {
  job: Record<string, unknown> & { id: string; state: string; message: string | null; result: unknown };
  log: Array<{ seq: number; level: string; text: string }>;
  permissions: string[];
}

/** A job, its log lines and the actions allowed on it: `GET /api/admin/jobs/{id}/detail`, as the page's user. */
export async function jobDetail(page: Page, base: string, id: string): Promise<JobDetail> {
  const response = await page.request.get(`${base}/api/admin/jobs/${encodeURIComponent(id)}/detail`);
  if (!response.ok()) throw new Error(`GET /api/admin/jobs/${id}/detail answered ${response.status()}`);
  return (await response.json()) as JobDetail;
}

/** The text of a job's log lines, oldest first. */
export async function logLines(page: Page, base: string, id: string): Promise<string[]> {
  return (await jobDetail(page, base, id)).log.map((line) => line.text);
}

/**
 * Posts one of the job API's actions from the page, as `browser/app.ts` does (fetch with the
 * `X-Realtime-Jobs: 1` proof): the status and the answer's job or error.
 */
export async function jobAction(page: Page, id: string, action: 'cancel' | 'retry' | 'approve' | 'reject') {
  return page.evaluate(
    async ([jobId, name]) => {
      const response = await fetch(`/api/admin/jobs/${encodeURIComponent(jobId)}/${name}`, {
        method: 'POST',
        headers: { 'x-realtime-jobs': '1' },
      });
      const body = await response.json();
      return { status: response.status, job: body.job ?? null, error: body.error ?? null };
    },
    [id, action] as const,
  );
}

/**
 * Opens a job stream in the page and records its `job-update`s as `"<id> <state>"`, in the order they
 * arrived (the snapshot first); resolves once the snapshot is in. Returns a reader of what it holds.
 */
export async function recordJobUpdates(page: Page, query: string): Promise<() => Promise<string[]>> {
  await page.evaluate((filter) => {
    const seen: string[] = [];
    (window as unknown as { jobUpdates: string[] }).jobUpdates = seen;
    const source = new EventSource(`/api/admin/jobs/events?${filter}`);
    source.addEventListener('job-update', (event) => {
      const job = JSON.parse((event as MessageEvent).data);
      seen.push(`${job.id} ${job.state}`);
    });
    return new Promise((resolve) => source.addEventListener('ready', resolve, { once: true }));
  }, query);
  return () => page.evaluate(() => (window as unknown as { jobUpdates: string[] }).jobUpdates);
}

/** A page in the browser's profile (so logged in the same) that runs no script, as with JavaScript off. */
export async function noScriptPage(chromium: Awaited<ReturnType<typeof launchChromium>>): Promise<Page> {
  const page = await chromium.context.newPage();
  const cdp = await chromium.context.newCDPSession(page);
  await cdp.send('Emulation.setScriptExecutionDisabled', { value: true });
  return page;
}

export interface PeerPairOptions {
  /** peer-a's pause per sync step (default 40 ms): slower, a push lasts long enough to act on. */
  paceMs?: number;
  /** Whether peer-a also knows peer-c, down until a test starts it on `portC` (default true). */
  withPeerC?: boolean;
  /**
   * peer-a reaches peer-b through a proxy that can hold a call (`toB.holdNext`), so a test keeps a
   * push running for as long as it needs; peer calls may then take a minute before they count as lost.
   */
  holdableB?: boolean;
}

export interface PeerPair {
  a: Instance;
  b: Instance;
  chromium: Awaited<ReturnType<typeof launchChromium>>;
  /** A page logged in to peer-a as admin. */
  page: Page;
  /** The card of one peer on peer-a's sync-control page. */
  card(peer: string): Locator;
  /** The folder both instances keep their data in, and the Dedalus stand-in's URL: to start peer-c. */
  dataDir: string;
  dedalusUrl: string;
  /** Where peer-a expects peer-c. */
  portC: number;
  /** The proxy between peer-a and peer-b, with `holdableB`. */
  toB: ForwardingProxy | null;
  close(): Promise<void>;
}

/**
 * Two real instances that are each other's peer (peer-a also knows peer-c, which is down), a Dedalus
 * stand-in, and Chromium logged in to peer-a as admin.
 */
export async function startPeerPair(options: PeerPairOptions = {}): Promise<PeerPair> {
  const dir = await tempDir();
  const standIn = await startDedalusStandIn({ keys: ['unused-key-0123456789'], delayMs: 0 });
  const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()];
  const toB = options.holdableB ? await startForwardingProxy({ target: portB }) : null;
  const peersOfA: Record<string, number> = { 'peer-b': toB ? Number(new URL(toB.url).port) : portB };
  if (options.withPeerC !== false) peersOfA['peer-c'] = portC;
  const [a, b] = await Promise.all([
    startInstance({
      name: 'peer-a',
      port: portA,
      dataDir: dir.path,
      peers: peersOfA,
      dedalusUrl: standIn.url,
      paceMs: options.paceMs,
      env: toB ? { SYNC_PEER_TIMEOUT_MS: '60000' } : {},
    }),
    startInstance({
      name: 'peer-b',
      port: portB,
      dataDir: dir.path,
      peers: { 'peer-a': portA },
      dedalusUrl: standIn.url,
    }),
  ]);
  const chromium = await launchChromium();
  const page = await chromium.context.newPage();
  await logIn(page, a.url);
  return {
    a,
    b,
    chromium,
    page,
    card: (peer) => page.locator('section.card', { has: page.getByRole('heading', { name: `Peer ${peer}` }) }),
    dataDir: dir.path,
    dedalusUrl: standIn.url,
    portC,
    toB,
    async close() {
      await chromium.close();
      await Promise.all([a.stop(), b.stop()]);
      await toB?.close();
      await standIn.close();
      await dir.remove();
    },
  };
}

/** Adds a record through an instance's Records page and waits for the confirmation. */
export async function addRecord(page: Page, base: string, title: string) {
  await page.goto(`${base}/admin/records`);
  await page.getByRole('textbox', { name: 'Title' }).fill(title);
  await page.getByRole('button', { name: 'Add record' }).click();
  await page.getByText(`Added "${title}".`).waitFor();
}

/** Turns signing of outgoing bundles on or off through the Records page and waits for the confirmation. */
export async function setSigning(page: Page, base: string, sign: boolean) {
  await page.goto(`${base}/admin/records`);
  const box = page.getByLabel('Sign outgoing bundles');
  await (sign ? box.check() : box.uncheck());
  await page.getByRole('button', { name: 'Save signing setting' }).click();
  await page.getByText(sign ? 'Outgoing bundles are signed.' : 'Outgoing bundles are now sent UNSIGNED.').waitFor();
}

export interface SingleApp {
  app: Instance;
  /** The Dedalus stand-in's base URL. */
  dedalusUrl: string;
  chromium: Awaited<ReturnType<typeof launchChromium>>;
  close(): Promise<void>;
}

/** One instance (its peer is down), a Dedalus stand-in accepting `keys`, and Chromium. */
export async function startSingleApp(
  standIn: { keys: string[]; delayMs: number },
  env: Record<string, string> = {},
): Promise<SingleApp> {
  const dir = await tempDir();
  const dedalus = await startDedalusStandIn(standIn);
  const app = await startInstance({
    name: 'peer-a',
    port: await freePort(),
    dataDir: dir.path,
    peers: { 'peer-b': await freePort() },
    dedalusUrl: dedalus.url,
    env,
  });
  const chromium = await launchChromium();
  return {
    app,
    dedalusUrl: dedalus.url,
    chromium,
    async close() {
      await chromium.close();
      await app.stop();
      await dedalus.close();
      await dir.remove();
    },
  };
}
