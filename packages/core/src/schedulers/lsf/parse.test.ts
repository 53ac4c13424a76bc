import { describe, expect, it } from 'vitest';

import { bhostsArgv, bjobsArgv, bkillArgv, bqueuesArgv, bsubArgv } from './commands.js';
import { renderLsfDirectives, renderLsfScript } from './directives.js';
import { classifyBkill, lsfErrorLine, lsfHint } from './errors.js';
import { execHosts, lsfTime, parseBjobs, parseBsub, parseDefaultQueue } from './parse.js';
import { LSF_STATE_MAP, exitedState, mapLsfState } from './states.js';

const now = new Date(Date.UTC(2026, 11, 7, 15, 52));

describe('LSF states', () => {
  it('maps every STAT bjobs prints; unknown names are unknown', () => {
    expect(Object.keys(LSF_STATE_MAP).sort()).toEqual([
      'DONE',
      'EXIT',
      'PEND',
      'PROV',
      'PSUSP',
      'RUN',
      'SSUSP',
      'UNKWN',
      'USUSP',
      'WAIT',
      'ZOMBI',
    ]);
    expect(mapLsfState('run')).toBe('starting');
    expect(mapLsfState('UNKWN')).toBe('unknown');
    expect(mapLsfState('NEW')).toBe('unknown');
    expect(exitedState('TERM_RUNLIMIT: job killed after reaching LSF run time limit')).toBe(
      'timed-out',
    );
    expect(exitedState('TERM_OWNER: job killed by owner')).toBe('cancelled');
    expect(exitedState('TERM_MEMLIMIT: job killed after reaching LSF memory usage limit')).toBe(
      'failed',
    );
    expect(exitedState(undefined)).toBe('failed');
  });
});

describe('LSF parsers', () => {
  it('reads bjobs JSON, not-found lines on stderr and bsub ids', () => {
    const parsed = parseBjobs(
      '{"COMMAND":"bjobs","JOBS":1,"RECORDS":[{"JOBID":"7","JOBINDEX":"3","STAT":"RUN","JOB_NAME":" spaced ","EXEC_HOST":""}]}',
      'Job <8> is not found\n',
      now,
    );
    expect(parsed.records).toEqual([{ id: '7[3]', stat: 'RUN', name: ' spaced ' }]);
    expect(parsed.notFound).toEqual(['8']);
    expect(() => parseBjobs('{', '', now)).toThrow(/could not be read/);
    expect(parseBsub('Job <5130> is submitted to queue <normal>.\n')).toBe('5130');
    expect(parseBsub('Job <5130> is submitted to default queue <normal>.')).toBe('5130');
    expect(parseBsub('Request aborted by esub. Job not submitted.')).toBeUndefined();
  });

  it('reads LSF times in the year nearest to now, and host lists', () => {
    expect(lsfTime('Dec  7 15:41', now)).toEqual(new Date(Date.UTC(2026, 11, 7, 15, 41)));
    expect(lsfTime('Jan  2 03:00 L', now)).toEqual(new Date(Date.UTC(2027, 0, 2, 3, 0)));
    expect(lsfTime('Nov 30 23:59:58 2025', now)).toEqual(
      new Date(Date.UTC(2025, 10, 30, 23, 59, 58)),
    );
    expect(lsfTime('-', now)).toBeUndefined();
    expect(execHosts('8*lnode1:8*lnode2')).toEqual(['lnode1', 'lnode2']);
    expect(execHosts('lnode1:lnode1:lnode3')).toEqual(['lnode1', 'lnode3']);
    expect(parseDefaultQueue('Default Queues:  normal priority\n')).toBe('normal');
  });
});

describe('LSF directives, commands and errors', () => {
  it('renders slots, span, memory per host, GPUs, run limit, queue, project, mail and paths', () => {
    expect(
      renderLsfDirectives({
        name: 'hpcj-d',
        nodes: 3,
        tasksPerNode: 2,
        cpusPerTask: 2,
        memoryMiB: 8000,
        gpusPerNode: 1,
        walltimeMinutes: 90,
        partition: 'normal',
        account: 'p1',
        mailOnStart: 'a@b.org',
        workdir: '/w/s',
        output: '/w/s/log',
      }),
    ).toEqual([
      '#BSUB -J hpcj-d',
      '#BSUB -n 12',
      '#BSUB -R "span[ptile=4] rusage[mem=8000MB]"',
      '#BSUB -gpu "num=1"',
      '#BSUB -W 1:30',
      '#BSUB -q normal',
      '#BSUB -P p1',
      '#BSUB -B',
      '#BSUB -u a@b.org',
      '#BSUB -cwd /w/s',
      '#BSUB -o /w/s/log',
    ]);
    expect(() => renderLsfDirectives({ name: 'x1', output: '/a b' })).toThrow(
      /output "\/a b" contains a space/,
    );
    expect(() => renderLsfScript('echo', { name: 'x1' })).toThrow(/"#!" line/);
  });

  it('builds argv arrays', () => {
    expect(bsubArgv()).toEqual(['bsub']);
    expect(bjobsArgv(['1', '2[3]']).slice(-5)).toEqual(['-json', '-hms', '-a', '1', '2[3]']);
    expect(bjobsArgv(['1'])[4]).toBe(
      'jobid jobindex stat job_name user queue exec_host submit_time start_time finish_time exit_code exit_reason pend_reason runtimelimit',
    );
    expect(bkillArgv(['1'])).toEqual(['bkill', '1']);
    expect(bqueuesArgv()).toEqual(['bqueues', '-o', 'queue_name status max', '-json']);
    expect(bhostsArgv()).toEqual(['bhosts', '-o', 'host_name status max', '-json']);
  });

  it('reads errors and bkill output', () => {
    expect(lsfErrorLine('bsub: nosuch: No such queue. Job not submitted.')).toBe(
      'nosuch: No such queue. Job not submitted.',
    );
    expect(lsfHint('LSF is down. Please wait ...')).toMatch(/did not answer/);
    expect(lsfHint('odd')).toBeUndefined();
    expect(
      classifyBkill(
        'Job <1> is being terminated\nJob <2>: Job has already finished\nJob <3>: Operation not permitted\n',
      ),
    ).toEqual({
      ignored: ['Job <2>: Job has already finished'],
      errors: ['Job <3>: Operation not permitted'],
    });
  });
});
