import { defineConfig } from 'vitest/config';

// Two tiers: `unit` runs next to the code with fakes and recorded outputs; `e2e` runs against the
// real Slurm test cluster, real Jupyter and a real browser, which `scripts/test` brings up.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'templates/**/*.test.ts', 'bench/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
