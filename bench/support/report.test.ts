import { describe, expect, it } from 'vitest';
import { evaluate, evaluateSpeedup, median, ratio, seconds, table } from './report.js';

describe('report', () => {
  it('takes medians of odd and even counts, NaN of none', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('gives no ratio against a zero baseline', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNaN();
  });

  it('writes one summary line that says when the target is missed', () => {
    const metric = {
      name: 'start-to-ready jupyter',
      subjectLabel: 'hpc-jupyter',
      baselineLabel: 'hand-written sbatch',
      format: seconds,
      maxRatio: 1.1,
    };
    expect(evaluate({ ...metric, subject: 4100, baseline: 3900 }).summary).toBe(
      'bench start-to-ready jupyter: hpc-jupyter 4.10 s, hand-written sbatch 3.90 s, ratio 1.05 (target <= 1.10)',
    );
    const missed = evaluate({ ...metric, subject: 5000, baseline: 2500 });
    expect(missed.met).toBe(false);
    expect(missed.summary).toMatch(/ratio 2\.00 \(target <= 1\.10: MISSED\)$/);
    expect(evaluate({ ...metric, subject: 1, baseline: 0 }).summary).toContain('ratio n/a');
  });

  it('reports a speed-up as the baseline time over the subject time', () => {
    const metric = {
      name: 'engines dask pi speed-up',
      subjectLabel: '4 nodes',
      baselineLabel: '1 thread',
      format: seconds,
      minSpeedup: 1.85,
    };
    const met = evaluateSpeedup({ ...metric, subject: 1600, baseline: 3200 });
    expect(met.speedup).toBe(2);
    expect(met.summary).toBe(
      'bench engines dask pi speed-up: 4 nodes 1.60 s, 1 thread 3.20 s, speed-up 2.00x (target >= 1.85x)',
    );
    const missed = evaluateSpeedup({ ...metric, subject: 2000, baseline: 3000 });
    expect(missed.met).toBe(false);
    expect(missed.summary).toMatch(/speed-up 1\.50x \(target >= 1\.85x: MISSED\)$/);
    expect(evaluateSpeedup({ ...metric, subject: 0, baseline: 3000 }).summary).toContain('n/a');
  });

  it('pads columns and right-aligns numbers', () => {
    expect(
      table(
        ['how', 'ready'],
        [
          ['hpc-jupyter', '4.10 s'],
          ['sbatch', '12.00 s'],
        ],
      ),
    ).toBe(
      [
        'how          ready',
        '-----------  -------',
        'hpc-jupyter   4.10 s',
        'sbatch       12.00 s',
      ].join('\n'),
    );
  });
});
