import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.js';
import {
  insertDirectives,
  quoteDirectiveValue,
  renderSlurmDirectives,
} from './slurm-directives.js';

describe('renderSlurmDirectives', () => {
  it('renders every field in a fixed order', () => {
    // The same request was submitted to the test cluster (job 18 there); scontrol showed
    // TimeLimit=01:30:00, WorkDir=/home/hpcjtest/my dir #1, StdOut=.../out-18.log.
    expect(
      renderSlurmDirectives({
        name: 'hpcj-Ωmega-日本語-test',
        nodes: 1,
        tasksPerNode: 1,
        cpusPerTask: 1,
        memoryMiB: 100,
        gpusPerNode: 2,
        walltimeMinutes: 90,
        partition: 'debug',
        account: 'teaching',
        qos: 'normal',
        mailOnStart: 'someone@example.org',
        workdir: '/home/hpcjtest/my dir #1',
        output: '/home/hpcjtest/my dir #1/out-%j.log',
      }),
    ).toEqual([
      '#SBATCH --job-name=hpcj-Ωmega-日本語-test',
      '#SBATCH --nodes=1',
      '#SBATCH --ntasks-per-node=1',
      '#SBATCH --cpus-per-task=1',
      '#SBATCH --mem=100M',
      '#SBATCH --gpus-per-node=2',
      '#SBATCH --time=0-01:30:00',
      '#SBATCH --partition=debug',
      '#SBATCH --account=teaching',
      '#SBATCH --qos=normal',
      '#SBATCH --mail-type=BEGIN',
      '#SBATCH --mail-user=someone@example.org',
      '#SBATCH --chdir="/home/hpcjtest/my dir #1"',
      '#SBATCH --output="/home/hpcjtest/my dir #1/out-%j.log"',
      '#SBATCH --open-mode=append',
    ]);
  });

  it('renders only what was asked for', () => {
    expect(renderSlurmDirectives({ name: 'hpcj-x' })).toEqual(['#SBATCH --job-name=hpcj-x']);
    expect(renderSlurmDirectives({ name: 'hpcj-x', gpusPerNode: 0 })).toEqual([
      '#SBATCH --job-name=hpcj-x',
    ]);
  });

  it('validates before rendering', () => {
    expect(() => renderSlurmDirectives({ name: 'x', partition: 'debug\n#SBATCH --uid=0' })).toThrow(
      InvalidInputError,
    );
    expect(() => renderSlurmDirectives({ name: 'x y' })).toThrow(/contains a space/);
  });

  it('refuses values that a burst-buffer plugin would read as a het job separator', () => {
    expect(() => renderSlurmDirectives({ name: 'my-HetJob-1' })).toThrow(
      /name "my-HetJob-1" contains "HetJob"/,
    );
    expect(() => renderSlurmDirectives({ name: 'x', output: '/tmp/packjob/o.log' })).toThrow(
      InvalidInputError,
    );
  });
});

describe('quoteDirectiveValue', () => {
  it('leaves safe values alone, %j patterns included', () => {
    expect(quoteDirectiveValue('/scratch/a_b-c.d/out-%j.log')).toBe('/scratch/a_b-c.d/out-%j.log');
  });

  it('quotes spaces and # and escapes quotes and backslashes', () => {
    expect(quoteDirectiveValue('/a b')).toBe('"/a b"');
    expect(quoteDirectiveValue('/a#b')).toBe('"/a#b"');
    // Submitted to the test cluster as workdir and output (job 19): scontrol showed
    // WorkDir=/home/hpcjtest/quote"d and StdOut=/home/hpcjtest/quote"d/back\\slash-19.log.
    expect(quoteDirectiveValue('/home/hpcjtest/quote"d')).toBe('"/home/hpcjtest/quote\\"d"');
    expect(quoteDirectiveValue('/x/back\\\\slash')).toBe('"/x/back\\\\\\\\slash"');
    expect(quoteDirectiveValue("/it's")).toBe('"/it\'s"');
  });
});

describe('insertDirectives', () => {
  const lines = ['#SBATCH --job-name=a', '#SBATCH --nodes=2'];

  it('puts the directives right after the #! line', () => {
    expect(insertDirectives('#!/bin/bash\nset -e\necho hi\n', lines)).toBe(
      '#!/bin/bash\n#SBATCH --job-name=a\n#SBATCH --nodes=2\nset -e\necho hi\n',
    );
  });

  it('works for a script that is only a #! line', () => {
    expect(insertDirectives('#!/bin/sh', lines)).toBe(
      '#!/bin/sh\n#SBATCH --job-name=a\n#SBATCH --nodes=2\n',
    );
  });

  it('refuses scripts without #! and with DOS line endings', () => {
    expect(() => insertDirectives('echo hi\n', lines)).toThrow(/does not start with a "#!" line/);
    expect(() => insertDirectives(' #!/bin/bash\n', lines)).toThrow(InvalidInputError);
    expect(() => insertDirectives('#!/bin/bash\r\necho\r\n', lines)).toThrow(/CRLF/);
  });
});
