import { describe, expect, it } from 'vitest';
import { BASELINE_JOB_NAME, baselineScript } from './baseline-jupyter.js';

describe('the hand-written baseline job', () => {
  it('asks for what the jupyter template asks for and never names the token', () => {
    const script = baselineScript('/home/u/bench/b1', '/opt/venv/bin/python');
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    for (const line of [
      `#SBATCH --job-name=${BASELINE_JOB_NAME}`,
      '#SBATCH --nodes=1',
      '#SBATCH --ntasks-per-node=1',
      '#SBATCH --cpus-per-task=2',
      '#SBATCH --time=0-01:00:00',
      '#SBATCH --chdir=/home/u/bench/b1',
      '#SBATCH --output=/home/u/bench/b1/job.log',
      'export JUPYTER_TOKEN_FILE=$PWD/token',
    ]) {
      expect(script.split('\n')).toContain(line);
    }
    expect(script).toContain('exec /opt/venv/bin/python -m jupyterlab --no-browser');
    expect(script).not.toMatch(/--(ServerApp\.|IdentityProvider\.)?token=/);
  });

  it('refuses paths it would have to quote', () => {
    expect(() => baselineScript('/home/u/a b', '/opt/venv/bin/python')).toThrow(/unsafe path/);
    expect(() => baselineScript('/home/u/b', '/opt/$(x)/python')).toThrow(/unsafe path/);
  });
});
