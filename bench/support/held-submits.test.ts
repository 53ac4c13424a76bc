import { describe, expect, it } from 'vitest';
import { holdingSubmits, withHold } from './held-submits.js';

describe('held submits', () => {
  it('adds --hold to sbatch only', () => {
    expect(withHold(['sbatch', '--parsable'])).toEqual(['sbatch', '--hold', '--parsable']);
    expect(withHold(['env', 'TZ=UTC', 'sbatch'])).toEqual(['env', 'TZ=UTC', 'sbatch', '--hold']);
    expect(withHold(['squeue', '--user=u'])).toEqual(['squeue', '--user=u']);
  });

  it('passes the options through', async () => {
    const seen: unknown[] = [];
    const runner = holdingSubmits({
      run: (argv, options) => {
        seen.push(argv, options);
        return Promise.resolve({ code: 0, stdout: '1\n', stderr: '' });
      },
    });
    await runner.run(['sbatch', '--parsable'], { stdin: '#!/bin/bash\n' });
    expect(seen).toEqual([['sbatch', '--hold', '--parsable'], { stdin: '#!/bin/bash\n' }]);
  });
});
