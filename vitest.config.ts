import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Installs Debian's Chromium for the browser test when it is missing (as root).
    globalSetup: ['tests/setup/chromium.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // DuckDB work is CPU-bound and the machines have 2 cores.
    maxWorkers: 2,
  },
});
