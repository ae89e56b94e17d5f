import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    globalSetup: ['test/support/global-setup.ts'],
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'examples/**/*.test.ts'],
    // Generous: the browser and end-to-end suites drive Chromium and child processes on two cores.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores here and in CI: browser and crash suites spawn processes of their own.
    maxWorkers: 2,
  },
});
