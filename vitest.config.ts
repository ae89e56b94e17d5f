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
    // `expect.poll` waits for what must come to pass: 1 s (vitest's default) is too short on a loaded
    // machine, where a stream's next event or a page's re-render can take longer. A poll that holds
    // returns at once; only a failing one waits this long.
    expect: { poll: { timeout: 10_000 } },
  },
});
