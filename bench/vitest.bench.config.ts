/**
 * Vitest settings for the benchmarks (`scripts/bench`), kept apart from the unit and e2e tiers of
 * the root config: benchmarks drive the real Slurm test cluster for minutes and must never run as
 * part of `npm test`. One file at a time, so two benchmarks never share the cluster's 8 CPUs.
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  // The repository root, so `include` and the relative imports read as they do in the tiers.
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['bench/**/*.bench.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    fileParallelism: false,
    // The tables go straight to the terminal, not through vitest's per-test log capture.
    disableConsoleIntercept: true,
  },
});
