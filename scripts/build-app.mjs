// Compiles the reference app (examples/admin-app, TypeScript) to examples/admin-app/build/: one
// bundle per entry, the app's own modules inlined, every package left to Node. A bundle sits one
// folder below the app, as lib/ does, so the app's paths relative to its modules (../views,
// ../public) hold in both. Its browser script goes to build/assets/app.js (served as
// /assets/app.js). esbuild strips the types; `npm run typecheck` checks them.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const app = fileURLToPath(new URL('../examples/admin-app/', import.meta.url));

export async function buildApp() {
  await build({
    entryPoints: [`${app}server.ts`, `${app}start.ts`],
    outdir: `${app}build`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: true,
    logLevel: 'warning',
  });
  // Only type imports: nothing to bundle. The drop-in bundle it uses is imported at run time by URL.
  await build({
    entryPoints: [`${app}browser/app.ts`],
    outfile: `${app}build/assets/app.js`,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
  });
}

if (import.meta.url === `file://${process.argv[1]}`) await buildApp();
