import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../../errors.js';
import {
  pbsnodesArgv,
  qdelArgv,
  qstatAllArgv,
  qstatJobsArgv,
  qstatQueuesArgv,
  qsubArgv,
} from './commands.js';
import { renderPbsDirectives, renderPbsScript } from './directives.js';
import { classifyQdelErrors, pbsErrorLine, pbsHint } from './errors.js';

const full = {
  name: 'hpcj-dask-1',
  nodes: 4,
  tasksPerNode: 2,
  cpusPerTask: 4,
  memoryMiB: 16384,
  gpusPerNode: 2,
  walltimeMinutes: 1530,
  partition: 'workq',
  account: 'proj42',
  mailOnStart: 'me@example.org',
  output: '/home/me/.hpc-jupyter/s1/job.log',
  workdir: '/home/me/.hpc-jupyter/s1',
};

describe('PBS directives', () => {
  it('renders select chunks for PBS Pro', () => {
    expect(renderPbsDirectives(full, 'pbspro')).toEqual([
      '#PBS -N hpcj-dask-1',
      '#PBS -l select=4:ncpus=8:mpiprocs=2:mem=16384mb:ngpus=2',
      '#PBS -l place=scatter',
      '#PBS -l walltime=25:30:00',
      '#PBS -q workq',
      '#PBS -A proj42',
      '#PBS -m b',
      '#PBS -M me@example.org',
      '#PBS -o /home/me/.hpc-jupyter/s1/job.log',
      '#PBS -j oe',
      '#PBS -k oed',
    ]);
  });

  it('renders nodes=N:ppn=C for Torque, with the job memory multiplied out and -d', () => {
    expect(renderPbsDirectives({ ...full, qos: 'long' }, 'torque')).toEqual([
      '#PBS -N hpcj-dask-1',
      '#PBS -l nodes=4:ppn=8:gpus=2',
      '#PBS -l mem=65536mb',
      '#PBS -l walltime=25:30:00',
      '#PBS -q workq',
      '#PBS -A proj42',
      '#PBS -l qos=long',
      '#PBS -m b',
      '#PBS -M me@example.org',
      '#PBS -o /home/me/.hpc-jupyter/s1/job.log',
      '#PBS -j oe',
      '#PBS -d /home/me/.hpc-jupyter/s1',
    ]);
  });

  it('places the header after #! and changes directory itself on PBS Pro', () => {
    expect(
      renderPbsScript('#!/bin/bash\necho hi\n', { name: 'a1', workdir: '/w/$x' }, 'pbspro'),
    ).toBe(
      "#!/bin/bash\n#PBS -N a1\n#PBS -l select=1:ncpus=1:mpiprocs=1\n#PBS -l place=scatter\ncd '/w/$x' || { echo 'cannot enter the work directory' >&2; exit 1; }\necho hi\n",
    );
    expect(
      renderPbsScript('#!/bin/bash\necho hi\n', { name: 'a1', workdir: '/w' }, 'torque'),
    ).not.toContain('cd ');
    expect(() => renderPbsScript('echo hi\n', { name: 'a1' }, 'pbspro')).toThrow(/"#!" line/);
    expect(() => renderPbsScript('#!/bin/sh\r\necho\r\n', { name: 'a1' }, 'torque')).toThrow(
      /CRLF/,
    );
  });

  it('refuses values the directive reader would misread, naming the option', () => {
    expect(() => renderPbsDirectives({ name: 'a1', qos: 'high' }, 'pbspro')).toThrow(
      /^qos is not supported on PBS Pro/,
    );
    expect(() => renderPbsDirectives({ name: 'a1', output: '/home/a b/log' }, 'pbspro')).toThrow(
      /output "\/home\/a b\/log" contains a space/,
    );
    expect(() => renderPbsDirectives({ name: 'a1', workdir: '/srv/x:y' }, 'torque')).toThrow(
      /workdir .* contains ':'/,
    );
    expect(() => renderPbsDirectives({ name: 'a1;rm' }, 'torque')).toThrow(InvalidInputError);
    expect(() => renderPbsDirectives({ name: 'a1', nodes: 0 }, 'torque')).toThrow(
      /nodes 0 is not allowed/,
    );
  });
});

describe('PBS commands and errors', () => {
  it('builds argv arrays per flavour', () => {
    expect(qsubArgv()).toEqual(['qsub']);
    expect(qstatJobsArgv('torque', ['1.a'])).toEqual(['env', 'TZ=UTC', 'qstat', '-f', '-x', '1.a']);
    expect(qstatAllArgv('pbspro')).toEqual(['env', 'TZ=UTC', 'qstat', '-f', '-F', 'json']);
    expect(qstatQueuesArgv('torque')).toEqual(['qstat', '-Q', '-f']);
    expect(pbsnodesArgv('pbspro')).toEqual(['pbsnodes', '-a', '-F', 'json']);
    expect(qdelArgv(['1.a', '2.a'])).toEqual(['qdel', '1.a', '2.a']);
  });

  it('quotes the tool without its prefix and gives hints', () => {
    expect(pbsErrorLine('qsub: Unknown queue\n')).toBe('Unknown queue');
    expect(pbsHint('qsub: Unknown queue')).toMatch(/qstat -Q/);
    expect(pbsHint('qstat: cannot connect to server pbs (errno=111)')).toMatch(/did not answer/);
    expect(pbsHint('qsub: something new')).toBeUndefined();
    expect(
      classifyQdelErrors('qdel: Unknown Job Id 9.a\nqdel: Unauthorized Request  10.a\n'),
    ).toEqual({
      ignored: ['qdel: Unknown Job Id 9.a'],
      errors: ['qdel: Unauthorized Request  10.a'],
    });
  });
});
