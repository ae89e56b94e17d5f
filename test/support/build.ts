import { execFile } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { waitFor } from './wait.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// One lock for every suite that builds: each runs the same `npx tsup`, which rewrites all of dist/.
const LOCK = join(ROOT, 'node_modules', '.cache', 'realtime-jobs-tests', 'build.lock');

async function newestSource(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) newest = Math.max(newest, (await stat(join(entry.parentPath, entry.name))).mtimeMs);
  }
  return newest;
}

/**
 * Makes sure every file of `outputs` exists and is newer than everything under `src/<dir>` for each
 * of `sourceDirs`, running the real build (`npx tsup`) once when one is not. The first test file to
 * take the lock builds; the others wait for its output (or, should its build fail, take the lock in turn).
 */
export async function ensureBuilt(outputs: string[], sourceDirs: string[], what: string): Promise<void> {
  const sources = Math.max(...(await Promise.all(sourceDirs.map((dir) => newestSource(join(ROOT, 'src', dir))))));
  const fresh = () => outputs.every((output) => existsSync(output) && statSync(output).mtimeMs >= sources);
  if (fresh()) return;
  await mkdir(join(LOCK, '..'), { recursive: true });
  let building = false;
  const takeLock = async () => {
    building = await mkdir(LOCK).then(
      () => true,
      () => false,
    );
    return building;
  };
  await waitFor(async () => fresh() || (await takeLock()), what, 180_000);
  if (!building) return;
  try {
    if (!fresh()) await promisify(execFile)('npx', ['tsup'], { cwd: ROOT, maxBuffer: 1 << 24 });
  } finally {
    await rm(LOCK, { recursive: true, force: true });
  }
}
