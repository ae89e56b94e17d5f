import { mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = join(ROOT, 'node_modules', '.cache', 'realtime-jobs-fixtures');

/**
 * Bundles a TypeScript fixture (a child process a test forks) so plain `node` runs it: the library's
 * sources go in, npm packages stay external and resolve from the repository's node_modules.
 */
export async function bundleFixture(entry: string | URL): Promise<string> {
  const source = typeof entry === 'string' ? entry : fileURLToPath(entry);
  await mkdir(CACHE, { recursive: true });
  const outfile = join(CACHE, `${basename(source, '.ts')}-${process.pid}.mjs`);
  await build({
    entryPoints: [source],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
  return outfile;
}
