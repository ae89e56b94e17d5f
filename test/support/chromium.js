// Shared by the tests (test/support/browser.ts) and the benchmarks (bench/browser.js), which run as
// plain JavaScript: how Debian's chromium is found and launched here (`.ci/run` installs it).

/** Debian's chromium; `.ci/run` installs it. Override with CHROMIUM_PATH. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Headless, and without the background networking that this machine's closed network refuses. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
