import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './markdown.js';

const run = promisify(execFile);

/** Packages the docs use that the repository does not install itself: fixed, so every run is the same. */
const PINNED: Record<string, string> = {
  hono: '4.13.19',
  '@hono/node-server': '2.1.9',
  nunjucks: '3.2.4',
  '@types/nunjucks': '3.2.6',
  '@fastify/session': '11.1.3',
  '@fastify/cookie': '11.1.5',
};

/** `name@version`: the version in the repository's node_modules where there is one (npm finds it in its cache). */
function spec(name: string): string {
  const installed = join(ROOT, 'node_modules', name, 'package.json');
  const version = existsSync(installed) ? JSON.parse(readFileSync(installed, 'utf8')).version : PINNED[name];
  if (!version) throw new Error(`test/docs: no version for ${name}: install it in the repository or pin it in PINNED`);
  return `${name}@${version}`;
}

/**
 * What each kind of project installs besides the tarball: a user's app has its framework and nothing
 * else, so a missing dependency of the package shows; the type-check project has every package a
 * checked block imports, with its types.
 */
export const PROJECTS = {
  express: ['express', 'express-session'],
  fastify: ['fastify'],
  hono: ['hono', '@hono/node-server'],
  types: [
    '@types/node',
    'express',
    '@types/express',
    'express-session',
    '@types/express-session',
    'compression',
    '@types/compression',
    'fastify',
    '@fastify/cors',
    '@fastify/session',
    '@fastify/cookie',
    'hono',
    '@hono/node-server',
    'ioredis',
    '@opentelemetry/api',
    'lit',
    'nunjucks',
    '@types/nunjucks',
  ],
} as const;
export type ProjectKind = keyof typeof PROJECTS;

function newestFile(dir: string, skip: (name: string) => boolean): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && !skip(entry.name))
      newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * Packs the package into `dir` once and returns the tarball's path. `npm test` builds first, so this
 * packs the dist/ the other suites use without running `prepack` (a second build would replace dist/
 * under their feet); run alone on a stale or missing dist/, it builds first.
 */
export async function pack(dir: string): Promise<string> {
  const built = join(ROOT, 'dist', 'index.js');
  const sources = newestFile(join(ROOT, 'src'), (name) => name.endsWith('.test.ts'));
  if (!existsSync(built) || statSync(built).mtimeMs < sources) {
    await run('npm', ['run', 'build'], { cwd: ROOT, maxBuffer: 1 << 26 });
  }
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], {
    cwd: ROOT,
    maxBuffer: 1 << 26,
  });
  const [packed] = JSON.parse(stdout) as Array<{ filename: string }>;
  return join(dir, packed!.filename);
}

/**
 * A new project in `dir` with the tarball and its kind's packages installed, from npm's cache when it
 * has them. `"type": "module"`, as getting-started tells; CommonJS programs sit in a folder of their own.
 */
export async function createProject(dir: string, kind: ProjectKind, tarball: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, 'package.json'),
    JSON.stringify({ name: `docs-${kind}`, private: true, type: 'module' }, null, 2),
  );
  const args = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel=error'];
  try {
    await run('npm', [...args, tarball, ...PROJECTS[kind].map(spec)], { cwd: dir, maxBuffer: 1 << 26 });
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`npm install in the ${kind} project failed:\n${stderr ?? String(error)}`);
  }
}
