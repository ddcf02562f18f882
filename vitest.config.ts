import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{protocol,link,firmware-sim,daemon,test}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'dist/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores in CI: real-process tests start subprocesses of their own.
    pool: 'forks',
  },
});
