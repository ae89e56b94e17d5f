import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createJobRegistry, type JobRegistry, RESTART_MESSAGE } from '../../src/index.js';
import { processStartTime } from '../../src/stores/jsonl/lock.js';
import { jsonlStore } from '../../src/stores/jsonl.js';
import { bundleFixture } from '../support/bundle.js';
import { waitFor } from '../support/wait.js';

// A lock must tell a live owner from a PID that came back. These tests start real processes: a child
// that crashes with the log open leaves a real lock behind, and the next start must take it over even
// when that lock's PID is alive again — as this process (a container restarted as PID 1) or as any
// other process — while a live owner is still refused.

/** A child process running test/torture/fixtures/lock-child.ts, read line by line. */
interface Child {
  readonly proc: ChildProcess;
  readonly messages: Array<{ type: string; pid?: number; message?: string; loaded?: unknown[] }>;
  next(type: string): Promise<Child['messages'][number]>;
  exited: Promise<number | null>;
}

let dir: string;
let script: string;
let path: string;
let lockPath: string;

/** Whether this process may start a child in a PID namespace of its own, where it runs as PID 1. */
function canUnshare(): boolean {
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const unshare = canUnshare();

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rj-lock-'));
  script = await bundleFixture(new URL('./fixtures/lock-child.ts', import.meta.url));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const started: Child[] = [];
beforeEach(async () => {
  path = join(dir, `jobs-${++n}.jsonl`);
  lockPath = `${path}.lock`;
});
afterEach(async () => {
  for (const child of started.splice(0)) {
    child.proc.kill('SIGKILL');
    await child.exited;
  }
});

function start(mode: 'crash' | 'hold', options: { pid1?: boolean } = {}): Child {
  const args = [script, path, mode];
  const proc = options.pid1
    ? spawn('unshare', ['--pid', '--fork', '--mount-proc', '--kill-child', process.execPath, ...args])
    : spawn(process.execPath, args);
  const messages: Child['messages'] = [];
  let buffered = '';
  proc.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) messages.push(JSON.parse(line));
  });
  let stderr = '';
  proc.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const child: Child = {
    proc,
    messages,
    exited,
    async next(type) {
      let gone = false;
      void exited.then(() => {
        gone = true;
      });
      await waitFor(
        () => gone || messages.some((message) => message.type === type),
        `the child to say "${type}"`,
        20_000,
      );
      const found = messages.find((message) => message.type === type);
      if (!found) throw new Error(`the child exited without saying "${type}": ${JSON.stringify(messages)} ${stderr}`);
      return found;
    },
  };
  started.push(child);
  return child;
}

/** Starts a child that opens the log and crashes with it open, and waits for it to be gone. */
async function crashedChild(options: { pid1?: boolean } = {}) {
  const child = start('crash', options);
  const opened = await child.next('opened');
  expect(await child.exited).not.toBe(0);
  return { opened, lock: await readFile(lockPath, 'utf8') };
}

/**
 * The lock a dead process left, as it would read had its PID been given to `pid` since. (Whatever the
 * lock's format, so that the same test runs against the PID-only lock this design replaced.)
 */
async function reassignPid(lock: string, pid: number) {
  const owner = JSON.parse(lock);
  await writeFile(lockPath, typeof owner === 'number' ? `${pid}\n` : `${JSON.stringify({ ...owner, pid })}\n`);
}

const lockPid = (lock: string) => {
  const owner = JSON.parse(lock);
  return typeof owner === 'number' ? owner : owner.pid;
};

/** Opens the log in this process and checks the lock file now names it. */
async function openHere(): Promise<JobRegistry> {
  const jobs = await createJobRegistry({ store: jsonlStore({ path }), onError: () => {} });
  expect(lockPid(await readFile(lockPath, 'utf8'))).toBe(process.pid);
  return jobs;
}

describe('the JSONL lock after a crash', () => {
  it.skipIf(!unshare)(
    'a container restart: PID 1 crashes, the next PID 1 opens the log and finishes its job',
    async () => {
      const { opened, lock } = await crashedChild({ pid1: true });
      expect(opened.pid).toBe(1);
      expect(lockPid(lock)).toBe(1);

      const restarted = start('hold', { pid1: true });
      const reopened = await restarted.next('opened');
      expect(reopened.pid).toBe(1);
      expect(reopened.loaded).toEqual([
        expect.objectContaining({ id: (opened as { job?: string }).job, state: 'error', message: RESTART_MESSAGE }),
      ]);
      restarted.proc.stdin?.write('close\n');
      await restarted.next('closed');
    },
  );

  it("a stale lock naming this process's own PID is taken over", async () => {
    const { lock } = await crashedChild();
    // The dead owner's PID is now this process's: what a container restart looks like from inside.
    await reassignPid(lock, process.pid);
    const jobs = await openHere();
    await jobs.close();
  });

  it('a stale lock naming an unrelated live PID is taken over', async () => {
    const { lock } = await crashedChild();
    const bystander = spawn('sleep', ['60']);
    try {
      // The dead owner's PID now runs something else.
      await reassignPid(lock, bystander.pid as number);
      const jobs = await openHere();
      await jobs.close();
    } finally {
      bystander.kill('SIGKILL');
    }
  });

  it('of several processes starting at once over a stale lock, exactly one gets the log', async () => {
    await crashedChild();
    const contenders = Array.from({ length: 4 }, () => start('hold'));
    await waitFor(
      () => contenders.every((child) => child.messages.length > 0),
      'every contender to open or be refused',
      30_000,
    );
    const winners = contenders.filter((child) => child.messages[0]?.type === 'opened');
    expect(winners).toHaveLength(1);
    for (const loser of contenders.filter((child) => child.messages[0]?.type === 'refused')) {
      expect(loser.messages[0]?.message).toMatch(new RegExp(`in use by process ${winners[0]?.proc.pid}`));
    }
    winners[0]?.proc.stdin?.write('close\n');
    await winners[0]?.next('closed');
  });
});

describe('the JSONL lock refuses a live owner', () => {
  it('another process holding the log: refused naming it, opened once it has closed', async () => {
    const holder = start('hold');
    await holder.next('opened');
    const error = await createJobRegistry({ store: jsonlStore({ path }), onError: () => {} }).catch((e) => e);
    expect(error).toMatchObject({ code: 'locked' });
    expect(error.message).toMatch(new RegExp(`in use by process ${holder.proc.pid}\\. One process per JSONL file`));
    holder.proc.stdin?.write('close\n');
    await holder.next('closed');
    await holder.exited;
    const jobs = await openHere();
    await jobs.close();
  });

  it('a second open in this process: refused, and the first keeps its lock', async () => {
    const first = await openHere();
    const lock = await readFile(lockPath, 'utf8');
    expect(JSON.parse(lock)).toEqual({
      pid: process.pid,
      start: processStartTime(process.pid),
      host: hostname(),
      token: expect.stringMatching(/^[0-9a-f]{24}$/),
      created: expect.any(String),
    });
    await expect(createJobRegistry({ store: jsonlStore({ path }), onError: () => {} })).rejects.toThrow(
      /in use by this process \(another registry still has it open\)/,
    );
    expect(await readFile(lockPath, 'utf8')).toBe(lock);
    await first.close();
  });

  it('a lock from another host: reported, never taken over', async () => {
    const { lock } = await crashedChild();
    const foreign = `${JSON.stringify({ ...JSON.parse(lock), host: 'elsewhere.example' })}\n`;
    await writeFile(lockPath, foreign);
    await expect(createJobRegistry({ store: jsonlStore({ path }), onError: () => {} })).rejects.toThrow(
      /in use by process \d+ on host elsewhere\.example.*If elsewhere\.example no longer runs it, delete .*\.lock/,
    );
    expect(await readFile(lockPath, 'utf8')).toBe(foreign);
  });

  it('a lock this very process started with, not in its registry (a worker thread, another copy): refused', async () => {
    const { lock } = await crashedChild();
    const sameStart = { ...JSON.parse(lock), pid: process.pid, start: processStartTime(process.pid) };
    await writeFile(lockPath, `${JSON.stringify(sameStart)}\n`);
    await expect(createJobRegistry({ store: jsonlStore({ path }), onError: () => {} })).rejects.toThrow(
      /in use by this process \(another thread or copy of realtime-jobs\)/,
    );
  });
});
