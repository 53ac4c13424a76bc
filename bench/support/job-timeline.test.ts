import { describe, expect, it } from 'vitest';
import { parseJupyterLog, parseStat, span } from './job-timeline.js';

describe('job timeline', () => {
  it('reads the first Jupyter line and the "is running at" line, in local time', () => {
    const log = [
      '2026-11-22T03:31:38 hpc-jupyter: session s1 (jupyter) on node1, Slurm job 223',
      '[I 2026-11-22 03:31:39.812 ServerApp] jupyter_lsp | extension was successfully linked.',
      '[W 2026-11-22 03:31:40.001 ServerApp] something',
      '[I 2026-11-22 03:31:40.123 ServerApp] Jupyter Server 2.17.0 is running at:',
      '[I 2026-11-22 03:31:41.000 ServerApp] Jupyter Server 2.17.0 is running at:',
    ].join('\n');
    expect(parseJupyterLog(log)).toEqual({
      firstLog: new Date(2026, 10, 22, 3, 31, 39, 812).getTime(),
      running: new Date(2026, 10, 22, 3, 31, 40, 123).getTime(),
    });
    expect(parseJupyterLog('no jupyter here')).toEqual({});
  });

  it('reads stat lines, leaving out unknown birth times', () => {
    const times = parseStat(
      '1795317720.674 1795317721.5 /home/u/s1/job.log\n0 1795317722.000 /home/u/s1/x y\n- 12 /z\n',
    );
    expect(times.get('/home/u/s1/job.log')).toEqual({
      born: 1795317720674,
      modified: 1795317721500,
    });
    expect(times.get('/home/u/s1/x y')).toEqual({ modified: 1795317722000 });
    expect(times.get('/z')).toEqual({ modified: 12000 });
  });

  it('measures spans only between known instants in order', () => {
    expect(span(1, 3)).toBe(2);
    expect(span(undefined, 3)).toBeUndefined();
    expect(span(3, 1)).toBeUndefined();
  });
});
