// Generates dist/custom-elements.json (package.json `customElements`) from the element's JSDoc, so
// editors and docs tools know <job-status>: its attributes, events, parts and CSS properties.
export default {
  globs: ['src/client/job-status/job-status.ts', 'src/client/job-list/job-list.ts'],
  outdir: 'dist',
  litelement: true,
  dependencies: false,
  packagejson: false,
};
