import { type ChildProcess, fork, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import type { Job } from '../../src/protocol/job.js';
import { ensureBuilt } from '../support/build.js';
import { bundleFixture } from '../support/bundle.js';
import type { HostileScript } from './fixtures/hostile-server.js';
import type { Command, SeenRequest } from './fixtures/server.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CLI = join(ROOT, 'dist', 'cli.js');
export const ADMIN = 'Authorization: Bearer admin-token';
/** How long a test waits for another process: two cores, shared. */
export const PATIENCE_MS = 15_000;

/** Makes sure `dist/cli.js` exists and is newer than its sources (see {@link ensureBuilt}). */
export async function ensureCli(): Promise<void> {
  await ensureBuilt([CLI], ['cli', 'client', 'protocol'], 'the command line to be built');
}

/** The fixture server (test/cli/fixtures/server.ts) in its own process, driven over IPC. */
export interface FixtureServer {
  /** The job routes, e.g. `http://127.0.0.1:40211/api/admin/jobs`. */
  url: string;
  port: number;
  enqueue(input: Extract<Command, { op: 'enqueue' }>['input']): Promise<Job>;
  update(id: string, patch: Extract<Command, { op: 'update' }>['patch']): Promise<Job>;
  cancel(id: string): Promise<Job>;
  /** Every request that arrived so far. */
  requests(): Promise<SeenRequest[]>;
  /** Ends every open stream, as a server shutting down does; clients reconnect. */
  closeStreams(): Promise<void>;
  /** Makes the stream route answer 502 (on) or work again (off); the list route keeps working. */
  failStreams(on: boolean): Promise<void>;
  /** Stops listening and cuts every connection (on), or listens again on the same port (off); jobs stay. */
  unplug(on: boolean): Promise<void>;
  stop(): Promise<void>;
}

let fixture: Promise<string> | undefined;

/** Starts the fixture server, on `port` or any free one (stopped when the test ends). */
export async function startServer(port = 0): Promise<FixtureServer> {
  fixture ??= bundleFixture(new URL('./fixtures/server.ts', import.meta.url));
  const child = fork(await fixture, [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, PORT: String(port) },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const replies = new Map<number, (reply: { result?: unknown; error?: string }) => void>();
  let seq = 0;
  const listening = await new Promise<number>((resolve, reject) => {
    child.on('message', (message: { listening?: number; seq?: number; result?: unknown; error?: string }) => {
      if (message.listening) resolve(message.listening);
      else replies.get(message.seq as number)?.(message);
    });
    child.once('exit', (code) => reject(new Error(`the fixture server exited with ${code}`)));
  });
  const ask = <T>(command: Command) =>
    new Promise<T>((resolve, reject) => {
      const id = ++seq;
      replies.set(id, (reply) => {
        replies.delete(id);
        if (reply.error) reject(new Error(reply.error));
        else resolve(reply.result as T);
      });
      child.send({ seq: id, command });
    });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  onTestFinished(stop);
  return {
    url: `http://127.0.0.1:${listening}/api/admin/jobs`,
    port: listening,
    enqueue: (input) => ask({ op: 'enqueue', input }),
    update: (id, patch) => ask({ op: 'update', id, patch }),
    cancel: (id) => ask({ op: 'cancel', id }),
    requests: () => ask({ op: 'requests' }),
    closeStreams: () => ask({ op: 'closeStreams' }),
    failStreams: (on) => ask({ op: 'failStreams', on }),
    unplug: (on) => ask({ op: 'unplug', on }),
    stop,
  };
}

let hostileFixture: Promise<string> | undefined;

/**
 * A server that answers what `script` says (test/cli/fixtures/hostile-server.ts): hostile jobs, or
 * one fixed answer on every route. Returns the job routes' URL; stopped when the test ends.
 */
export async function startHostileServer(script: HostileScript): Promise<string> {
  hostileFixture ??= bundleFixture(new URL('./fixtures/hostile-server.ts', import.meta.url));
  const child = fork(await hostileFixture, [], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  child.send(script);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (message: { listening?: number }) => message.listening && resolve(message.listening));
    child.once('exit', (code) => reject(new Error(`the hostile server exited with ${code}`)));
  });
  return `http://127.0.0.1:${port}/api/admin/jobs`;
}

/** A port nobody listens on right now (bound, read, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One run of the built command, its output as it arrives, and how it ended. */
export interface CliRun {
  readonly stdout: string;
  readonly stderr: string;
  /** Non-empty stdout lines so far. */
  lines(): string[];
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
  child: ChildProcess;
}

/** Runs `node dist/cli.js …args` with stdout and stderr piped (not a terminal); killed when the test ends. */
export function runCli(args: string[], env: Record<string, string> = {}): CliRun {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => resolve(code ?? (signal as string)));
  });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return {
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    lines: () => stdout.split('\n').filter((line) => line !== ''),
    exited,
    child,
  };
}
