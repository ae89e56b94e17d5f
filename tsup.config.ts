import { readFileSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

// The drop-in browser bundle: one self-contained ES module (Lit and the parser inside) for a plain
// <script type="module">. Its own outDir, cleaned on its own; the package build leaves it alone.
const browserBundle: Options = {
  entry: {
    'realtime-jobs': 'src/client/job-status/index.ts',
    // <job-list> does not fit the first bundle's budget: a second one, holding everything the first does.
    'realtime-jobs-list': 'src/client/job-list/bundle.ts',
  },
  // Each bundle stands alone (no shared chunk): a page loads one file.
  splitting: false,
  format: ['esm'],
  platform: 'browser',
  target: 'es2022',
  // Terser after esbuild: three passes take about 0.3 kB more off the gzipped bundle than esbuild alone.
  minify: 'terser',
  terserOptions: { ecma: 2020, module: true, compress: { passes: 3 } },
  noExternal: [/.*/],
  dts: false,
  sourcemap: true,
  clean: true,
  outDir: 'dist/browser',
};

const packageBuild: Options = {
  entry: {
    index: 'src/index.ts',
    node: 'src/adapters/node.ts',
    express: 'src/adapters/express.ts',
    fastify: 'src/adapters/fastify.ts',
    client: 'src/client/index.ts',
    element: 'src/client/job-status/index.ts',
    'job-list': 'src/client/job-list/index.ts',
    html: 'src/html/index.ts',
    jsonl: 'src/stores/jsonl.ts',
    testing: 'src/testing/index.ts',
    redis: 'src/stores/redis/index.ts',
    otel: 'src/otel/index.ts',
  },
  format: ['esm', 'cjs'],
  // Shared chunks in CJS too: otherwise each entry bundles its own core, and `instanceof JobsError`
  // fails for an error thrown by realtime-jobs/express when checked with realtime-jobs' JobsError.
  splitting: true,
  dts: true,
  // Leaves the other builds' files alone: the browser bundle and the command line.
  clean: ['!browser/**', '!cli.js', '!cli.js.map'],
  sourcemap: true,
  target: 'node20',
  // nanoid 5 is ESM-only: bundling its few lines keeps the CJS build loadable everywhere.
  noExternal: ['nanoid'],
};

// The `realtime-jobs` command (package.json `bin`): one ESM file for Node, its shebang kept from the
// source; commander stays a dependency. Nothing imports it, so no browser build ever holds it.
const commandLine: Options = {
  entry: { cli: 'src/cli/index.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  dts: false,
  sourcemap: true,
  clean: false,
  define: { __VERSION__: JSON.stringify(version) },
};

export default defineConfig([packageBuild, browserBundle, commandLine]);
