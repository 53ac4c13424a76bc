/**
 * Benchmark: the ipyparallel engine (issue 4). Time to ready of `hpc-jupyter start ipyparallel --nodes 4`
 * against a hand-written sbatch script that starts the same engine on the same nodes and waits
 * for its workers (target ratio <= 1.10), and the seed's Monte Carlo pi on the cluster against
 * one thread on this machine (target speed-up >= 1.85x). How it measures:
 * bench/support/engine-bench.ts; the hand-written script: bench/support/engine-baselines.ts.
 * Writes .artifacts/bench/engines-ipyparallel.json. Never fails on timing.
 */
import { engineBenchmark } from './support/engine-bench.js';

engineBenchmark('ipyparallel');
