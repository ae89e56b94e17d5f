// `npm start`: the Dedalus stand-in (unless DEDALUS_BASE_URL is set) and two instances of the admin
// app, peer-a on PORT and peer-b on PEER_PORT, each the other's peer. Ctrl-C stops all of it.
// `npm run build` compiles it to build/start.js, which `npm start` runs; the instances are build/server.js.
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatePassword, hasAccounts, type Passwords, type Role } from './lib/accounts.js';
import { openDatabase } from './lib/db.js';
import { startDedalusStandIn } from './lib/dedalus-standin.js';

const env = process.env;
const port = Number(env.PORT || 3000);
const peerPort = Number(env.PEER_PORT || 3001);
const host = env.HOST || '127.0.0.1';
const dataRoot = resolve(env.DATA_DIR || 'data');
const standInKey = (env.DEDALUS_STANDIN_KEYS || 'dsk-demo-0123456789abcdef').split(',')[0] ?? '';

function accountsExist(name: string): boolean {
  const path = join(dataRoot, name, 'app.db');
  if (!existsSync(path)) return false;
  const db = openDatabase(path);
  try {
    return hasAccounts(db);
  } finally {
    db.close();
  }
}

// Both instances get the same demo passwords: generated here on the very first start, stored only as
// hashes by each instance, and printed this once.
const passwords: Passwords = { admin: env.ADMIN_PASSWORD || null, viewer: env.VIEWER_PASSWORD || null };
const firstStart = !accountsExist('peer-a') || !accountsExist('peer-b');
const generated: Partial<Record<Role, string>> = {};
for (const user of ['admin', 'viewer'] as const) {
  if (!passwords[user] && firstStart) passwords[user] = generated[user] = generatePassword();
}

const standIn = env.DEDALUS_BASE_URL
  ? null
  : await startDedalusStandIn({ port: Number(env.DEDALUS_STANDIN_PORT || 0), keys: [standInKey] });
const dedalusUrl = env.DEDALUS_BASE_URL || standIn?.url || '';

// Beside this file: build/server.js when compiled (`npm start`), server.ts when run from source.
const server = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './server.ts' : './server.js', import.meta.url));
const children: ChildProcess[] = [];
function launch(name: string, ownPort: number, peerName: string, otherPort: number): Promise<string> {
  const child = fork(server, [], {
    // The loader this process runs with, if any, so the instance runs the same way.
    execArgv: process.execArgv,
    env: {
      ...env,
      INSTANCE_NAME: name,
      PORT: String(ownPort),
      HOST: host,
      PEERS: `${peerName}=http://${host}:${otherPort}`,
      DATA_DIR: dataRoot,
      DEDALUS_BASE_URL: dedalusUrl,
      // Tells the instances that DEDALUS_BASE_URL is the stand-in, with the key it accepts.
      ...(standIn ? { DEDALUS_STANDIN: '1', DEDALUS_STANDIN_KEYS: standInKey } : {}),
      ADMIN_PASSWORD: passwords.admin ?? '',
      VIEWER_PASSWORD: passwords.viewer ?? '',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  children.push(child);
  return new Promise((resolveReady, reject) => {
    child.once('message', (message) => resolveReady((message as { ready: string }).ready));
    child.once('exit', (code) => reject(new Error(`${name} exited with code ${code} before it was ready`)));
  });
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await Promise.all(
    children
      .filter((child) => child.exitCode === null && child.signalCode === null)
      .map(
        (child) =>
          new Promise<void>((done) => {
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      ),
  );
  await standIn?.close();
  process.exit(code);
}
process.once('SIGINT', () => stop(0));
process.once('SIGTERM', () => stop(0));

try {
  const [a, b] = await Promise.all([
    launch('peer-a', port, 'peer-b', peerPort),
    launch('peer-b', peerPort, 'peer-a', port),
  ]);
  // A child that stops cleanly (Ctrl-C reaches the whole process group) is no failure.
  for (const child of children) child.on('exit', (code) => stop(code === 0 ? 0 : 1));
  const lines = [
    '',
    'realtime-jobs reference admin app',
    `  peer-a  ${a}/login`,
    `  peer-b  ${b}/login`,
    `  data    ${dataRoot}`,
    `  Dedalus ${dedalusUrl}${standIn ? ` (local stand-in; a valid key is ${standInKey})` : ''}`,
  ];
  if (generated.admin || generated.viewer) {
    lines.push('  Demo accounts (generated now, stored hashed, shown only this once):');
    for (const [user, password] of Object.entries(generated)) lines.push(`    ${user.padEnd(7)} ${password}`);
  } else if (env.ADMIN_PASSWORD || env.VIEWER_PASSWORD) {
    lines.push('  Demo accounts: admin and viewer, passwords from ADMIN_PASSWORD / VIEWER_PASSWORD');
  } else {
    lines.push('  Demo accounts: admin and viewer, with the passwords printed on the first start');
    lines.push('  (or set ADMIN_PASSWORD / VIEWER_PASSWORD to choose them).');
  }
  lines.push('Press Ctrl-C to stop.', '');
  console.log(lines.join('\n'));
} catch (error) {
  console.error((error as Error).message);
  await stop(1);
}
