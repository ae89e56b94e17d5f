import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    node: 'src/adapters/node.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  // nanoid 5 is ESM-only: bundling its few lines keeps the CJS build loadable everywhere.
  noExternal: ['nanoid'],
});
