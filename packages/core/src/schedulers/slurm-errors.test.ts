import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  isAccountingDisabled,
  isControllerUnreachable,
  slurmErrorLine,
  slurmHint,
} from './slurm-errors.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../test/fixtures/slurm/adapter/', import.meta.url));

function stderrOf(name: string): string {
  return (JSON.parse(readFileSync(`${FIXTURE_DIR}${name}.json`, 'utf8')) as { stderr: string })
    .stderr;
}

describe('slurmErrorLine', () => {
  it('joins the error lines without their prefixes', () => {
    expect(slurmErrorLine(stderrOf('sbatch-invalid-partition'))).toBe(
      'invalid partition specified: nosuch; Batch job submission failed: Invalid partition name specified',
    );
    expect(slurmErrorLine(stderrOf('squeue-controller-down'))).toBe(
      'slurm_load_jobs error: Unable to contact slurm controller (connect failure)',
    );
  });

  it('falls back to the last line, and to nothing for empty stderr', () => {
    expect(slurmErrorLine(stderrOf('sacct-accounting-disabled'))).toBe(
      'Slurm accounting storage is disabled',
    );
    expect(slurmErrorLine('')).toBe('');
  });
});

describe('slurmHint', () => {
  it.each([
    ['sbatch-invalid-partition', /partition name/],
    ['sbatch-invalid-account', /account name/],
    ['sbatch-invalid-qos', /QOS name/],
    ['sbatch-time-limit', /less time/],
    ['sbatch-too-many-nodes', /fewer nodes/],
    ['sbatch-too-much-memory', /less memory/],
    ['sbatch-dos', /Unix line endings/],
    ['scancel-other-user', /owner/],
    ['squeue-controller-down', /controller did not answer/],
    ['squeue-controller-silent', /controller did not answer/],
  ])('has a hint for %s', (name, hint) => {
    expect(slurmHint(stderrOf(name))).toMatch(hint);
  });

  it('has none for messages it does not know', () => {
    expect(slurmHint('sbatch: error: something new\n')).toBeUndefined();
  });
});

describe('classifiers', () => {
  it('recognise an unreachable controller or database', () => {
    expect(isControllerUnreachable(stderrOf('squeue-controller-blackhole'))).toBe(true);
    expect(isControllerUnreachable(stderrOf('squeue-controller-silent'))).toBe(true);
    expect(isControllerUnreachable(stderrOf('sacct-dbd-down'))).toBe(true);
    expect(isControllerUnreachable(stderrOf('sbatch-invalid-qos'))).toBe(false);
  });

  it('recognise a cluster without accounting', () => {
    expect(isAccountingDisabled(stderrOf('sacct-accounting-disabled'))).toBe(true);
    expect(isAccountingDisabled(stderrOf('sacctmgr-accounting-disabled'))).toBe(true);
    expect(isAccountingDisabled(stderrOf('sacct-dbd-down'))).toBe(false);
  });
});
