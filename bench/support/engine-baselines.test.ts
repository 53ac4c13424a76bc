import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { VENV_PYTHON } from '../../templates/runtime/job-harness.js';
import {
  ENGINES,
  baselineScript,
  clusterPiScript,
  singleThreadPiScript,
  sparkRecordCostScript,
} from './engine-baselines.js';
import { enginePhases } from './engine-phases.js';

const options = {
  dir: '/home/u/b',
  python: '/venv/bin/python',
  nodes: 4,
  cpusPerNode: 2,
  timeoutS: 60,
};

describe('engine baselines', () => {
  it.each(ENGINES)('%s: one job on the same nodes, workers by srun, a ready file', (engine) => {
    const script = baselineScript(engine, options);
    expect(script.startsWith('#!/bin/bash\n#SBATCH ')).toBe(true);
    expect(script).toContain('--nodes=4 --ntasks-per-node=1');
    expect(script).toContain(
      '--cpus-per-task=2 --time=10 --chdir=/home/u/b --output=/home/u/b/job.log',
    );
    expect(script).toMatch(/srun --overlap --nodes=4 --ntasks=4 --cpus-per-task=2 /);
    expect(script).toContain("open('ready', 'w')");
    expect(script.trimEnd().endsWith('wait')).toBe(true);
  });

  it.each(ENGINES)('%s: pi through the kernel start-up code, timing the count', (engine) => {
    const script = clusterPiScript(engine, 20_000_000);
    expect(script.startsWith('from hpc_jupyter.startup import *\n')).toBe(true);
    expect(script).toContain('NUM_SAMPLES = 20000000');
    expect(script).toMatch(
      /t0 = time\.time\(\)\ntotal_count(, done)? = count\(NUM_SAMPLES\)\nwall = /,
    );
  });

  it('times one thread the same way', () => {
    expect(singleThreadPiScript(10)).toContain(
      'total_count = sum(1 for i in range(NUM_SAMPLES) if inside(i))',
    );
  });

  it("measures a record through PySpark's filter wrapper against plain Python", () => {
    const out = execFileSync(VENV_PYTHON, ['-c', sparkRecordCostScript(200_000, 2)], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const cost = JSON.parse(out) as { plain: number; pyspark: number };
    // One more Python call per record: measurably dearer, though not twice the plain loop's work.
    expect(cost.pyspark / cost.plain).toBeGreaterThan(1.1);
    expect(cost.pyspark / cost.plain).toBeLessThan(2.5);
  });

  it('splits a run into phases, leaving out instants that are unknown or out of order', () => {
    expect(
      enginePhases({ t0: 0, submitted: 400, stepStart: 1400, readyFile: 9400, seen: 9600 }),
    ).toEqual({
      submit: 400,
      'to step start': 1000,
      'start-up in job': 8000,
      'seen by client': 200,
    });
    expect(enginePhases({ t0: 0, submitted: 400, stepStart: 300, seen: 900 })).toEqual({
      submit: 400,
      'seen by client': 500,
    });
  });
});
