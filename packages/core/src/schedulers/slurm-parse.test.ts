import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { FIELD_SEPARATOR as US } from './slurm-commands.js';
import {
  JobIndex,
  SLURM_JOB_ID,
  classifyScancelErrors,
  parseExitCode,
  parseSacct,
  parseSbatch,
  parseSqueue,
  recordToStatus,
} from './slurm-parse.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../test/fixtures/slurm/adapter/', import.meta.url));

function recorded(name: string): { stdout: string; stderr: string; code: number } {
  return JSON.parse(readFileSync(`${FIXTURE_DIR}${name}.json`, 'utf8')) as {
    stdout: string;
    stderr: string;
    code: number;
  };
}

const at = (epoch: number): Date => new Date(epoch * 1000);
/** When squeue-pending was recorded (date +%s right after it). */
const PENDING_RECORDED = at(1795315645);

describe('parseSqueue on recorded output', () => {
  it('reads every line of a queue with finished, failed, running and array jobs', () => {
    const { records, garbled } = parseSqueue(recorded('squeue-mixed').stdout);
    expect(garbled).toEqual([]);
    expect(records.map((r) => r.id)).toEqual([
      '5',
      '1',
      '6',
      '7',
      '2',
      '3',
      '4',
      '8_1',
      '8_2',
      '8_3',
    ]);
    expect(records[0]).toEqual({
      id: '5',
      nativeState: 'CANCELLED',
      submit: at(1795315605),
      start: at(1795315606),
      end: at(1795315612),
      timeLimitMinutes: 5,
      partition: 'debug',
      nodes: ['node2'],
      name: 'hpcj-cancelme',
    });
  });

  it('keeps multi-byte and "|" job names exactly', () => {
    const { records } = parseSqueue(recorded('squeue-mixed').stdout);
    expect(records.find((r) => r.id === '6')?.name).toBe('hpcj-Ωmega-日本語');
    expect(records.find((r) => r.id === '7')?.name).toBe('pipe|name');
  });

  it('reads pending jobs: reason, expected start, no nodes', () => {
    const { records } = parseSqueue(recorded('squeue-pending').stdout);
    const blocker = records.find((r) => r.id === '13');
    expect(blocker).toMatchObject({
      nativeState: 'PENDING',
      reason: 'Resources',
      start: at(1795315930),
    });
    expect(blocker?.nodes).toBeUndefined();
    const held = records.find((r) => r.id === '15');
    expect(held).toMatchObject({ reason: 'JobHeldUser', timeLimitMinutes: 10 });
    expect(held?.start).toBeUndefined(); // printed N/A
  });

  it('reads het components, array ranges, UNLIMITED and an end of NONE', () => {
    const { records, garbled } = parseSqueue(recorded('squeue-het-array').stdout);
    expect(garbled).toEqual([]);
    const ids = records.map((r) => r.id);
    expect(ids).toContain('22+0');
    expect(ids).toContain('22+1');
    expect(ids).toContain('24_[1-3]');
    const unlimited = records.find((r) => r.id === '20');
    expect(unlimited?.timeLimitMinutes).toBeUndefined();
    expect(unlimited?.end).toBeUndefined();
  });

  it('reads a hostlist of several nodes', () => {
    const { records } = parseSqueue(recorded('squeue-suspended-requeued').stdout);
    expect(records.find((r) => r.id === '1')?.nodes).toEqual(['node1', 'node2', 'node3', 'node4']);
  });

  it('finds nothing in the output of a controller that is down', () => {
    for (const name of [
      'squeue-controller-down',
      'squeue-controller-blackhole',
      'squeue-controller-silent',
    ]) {
      const output = recorded(name);
      expect(output.code).not.toBe(0);
      expect(parseSqueue(output.stdout)).toEqual({ records: [], garbled: [] });
    }
  });
});

describe('parseSqueue on damaged output', () => {
  const real = recorded('squeue-pending').stdout;

  it('reads empty output as no jobs', () => {
    expect(parseSqueue('')).toEqual({ records: [], garbled: [] });
    expect(parseSqueue('\n\n')).toEqual({ records: [], garbled: [] });
  });

  it('reports a last line cut short as garbled, with its id', () => {
    const cut = real.slice(0, real.lastIndexOf('\n', real.length - 2) + 12);
    const { records, garbled } = parseSqueue(cut);
    expect(records).toHaveLength(real.trim().split('\n').length - 1);
    expect(garbled).toHaveLength(1);
    expect(garbled[0]?.id).toBe('12');
  });

  it('reports a line without a readable id as garbled, without an id', () => {
    const { garbled } = parseSqueue(`slurm_load_jobs error: Socket timed out\n${real}`);
    expect(garbled).toEqual([{ line: 'slurm_load_jobs error: Socket timed out' }]);
  });

  it('reads a line whose fields are all empty but the id as a job of unknown state', () => {
    const { records } = parseSqueue(`77${US.repeat(9)}\n`);
    expect(records).toEqual([{ id: '77', nativeState: '' }]);
    expect(recordToStatus(records[0] ?? { id: '', nativeState: '' }, PENDING_RECORDED)).toEqual({
      id: '77',
      state: 'unknown',
      nativeState: '',
    });
  });

  it('reads N/A, None and (null) as absent', () => {
    const line = ['78', 'PENDING', 'None', 'N/A', 'N/A', 'N/A', 'NOT_SET', '(null)', '(null)', 'j'];
    expect(parseSqueue(line.join(US)).records).toEqual([
      { id: '78', nativeState: 'PENDING', name: 'j' },
    ]);
  });

  it('keeps a separator inside a job name in the name, the last field', () => {
    const line = ['79', 'RUNNING', 'None', '1', '2', '3', '1:00', 'debug', 'node1', `a${US}b`];
    expect(parseSqueue(line.join(US)).records[0]?.name).toBe(`a${US}b`);
  });

  it('copes with CRLF line ends and an unreadable hostlist', () => {
    const line = ['80', 'RUNNING', 'None', '1', '2', '3', '1:00', 'debug', 'node[3-1]', 'j'];
    const { records } = parseSqueue(`${line.join(US)}\r\n`);
    expect(records[0]).toMatchObject({ id: '80', nativeState: 'RUNNING', name: 'j' });
    expect(records[0]?.nodes).toBeUndefined();
  });
});

describe('parseSacct on recorded output', () => {
  it('reads exit codes, signals and "CANCELLED by <uid>"', () => {
    const index = new JobIndex(parseSacct(recorded('sacct-finished').stdout));
    expect(index.find('2')).toMatchObject({ nativeState: 'FAILED', exitCode: 3 });
    expect(index.find('3')).toMatchObject({ nativeState: 'FAILED', exitSignal: 9 });
    expect(index.find('3')?.exitCode).toBeUndefined();
    expect(index.find('5')?.nativeState).toBe('CANCELLED by 1001');
    expect(
      recordToStatus(index.find('5') ?? { id: '', nativeState: '' }, new Date()),
    ).toMatchObject({
      state: 'cancelled',
      nativeState: 'CANCELLED',
      exitCode: 0,
    });
  });

  it('keeps "|" in names and shows what the database did to unicode', () => {
    const index = new JobIndex(parseSacct(recorded('sacct-finished').stdout));
    expect(index.find('7')?.name).toBe('pipe|name');
    // The test cluster's accounting database stores names as latin1: sacct prints "?".
    expect(index.find('6')?.name).toBe('hpcj-?mega-???');
  });

  it('reads "None assigned" nodes, a Partition_Limit time limit, TIMEOUT and het components', () => {
    const parsed = parseSacct(recorded('sacct-het-array').stdout);
    const index = new JobIndex(parsed);
    const never = index.find('17');
    expect(never?.nodes).toBeUndefined();
    expect(never?.timeLimitMinutes).toBeUndefined();
    expect(recordToStatus(index.find('12') ?? { id: '', nativeState: '' }, new Date()).state).toBe(
      'timed-out',
    );
    expect(index.find('22')).toMatchObject({ id: '22', nativeState: 'COMPLETED' });
  });

  it('reads the empty answer for an unknown id', () => {
    expect(parseSacct(recorded('sacct-unknown').stdout)).toEqual({ records: [], garbled: [] });
  });
});

describe('JobIndex', () => {
  it('matches exact ids first, then array tasks and het components by their base id', () => {
    const index = new JobIndex(parseSqueue(recorded('squeue-het-array').stdout));
    expect(index.find('8_2')?.id).toBe('8_2');
    // All tasks of array 8 completed; both components of het job 22 run.
    expect(index.find('8')).toMatchObject({ id: '8', nativeState: 'COMPLETED' });
    expect(index.find('22')).toMatchObject({ id: '22', nativeState: 'RUNNING' });
    expect(index.find('24')).toMatchObject({ id: '24', nativeState: 'PENDING' });
    expect(index.find('2')?.id).toBe('2');
    expect(index.find('99')).toBeUndefined();
  });

  it('prefers a running task to finished ones', () => {
    const line = (id: string, state: string): string =>
      [id, state, 'None', '1', '2', '3', '1:00', 'debug', 'node1', 'arr'].join(US);
    const index = new JobIndex(
      parseSqueue(
        [line('9_1', 'COMPLETED'), line('9_2', 'RUNNING'), line('9_3', 'FAILED')].join('\n'),
      ),
    );
    expect(index.find('9')?.nativeState).toBe('RUNNING');
  });

  it('remembers ids whose lines were garbled', () => {
    const index = new JobIndex(parseSqueue(`41${US}RUNNING${US}None\n`));
    expect(index.find('41')).toBeUndefined();
    expect(index.isGarbled('41')).toBe(true);
    expect(index.isGarbled('4')).toBe(false);
  });
});

describe('recordToStatus', () => {
  const index = new JobIndex(parseSqueue(recorded('squeue-pending').stdout));
  const get = (id: string) =>
    recordToStatus(index.find(id) ?? { id, nativeState: '' }, PENDING_RECORDED);

  it('gives a pending job its expected start when it lies ahead', () => {
    expect(get('13')).toEqual({
      id: '13',
      state: 'queued',
      nativeState: 'PENDING',
      name: 'hpcj-blocker',
      reason: 'Resources',
      submitTime: at(1795315639),
      expectedStart: at(1795315930),
      timeLimitMinutes: 15,
    });
  });

  it('drops an estimate that has passed, and the estimate of a held job', () => {
    const later = recordToStatus(index.find('13') ?? { id: '', nativeState: '' }, at(1795316000));
    expect(later.expectedStart).toBeUndefined();
    expect(later.startTime).toBeUndefined();
    const requeued = new JobIndex(parseSqueue(recorded('squeue-suspended-requeued').stdout)).find(
      '8',
    );
    // Recorded with a start estimate although the job waits in held state.
    expect(requeued?.start).toEqual(at(1795315931));
    const status = recordToStatus(requeued ?? { id: '', nativeState: '' }, at(1795315812));
    expect(status).toMatchObject({ state: 'queued', reason: 'job requeued in held state' });
    expect(status.expectedStart).toBeUndefined();
  });

  it('gives a running job its start and nodes but no end', () => {
    expect(get('12')).toEqual({
      id: '12',
      state: 'starting',
      nativeState: 'RUNNING',
      name: 'hpcj-timeout2',
      submitTime: at(1795315639),
      startTime: at(1795315640),
      timeLimitMinutes: 1,
      nodes: ['node1'],
    });
  });

  it('gives a finished job its end', () => {
    expect(get('2')).toMatchObject({
      state: 'failed',
      reason: 'NonZeroExitCode',
      endTime: at(1795315605),
    });
  });

  it('reports a suspended job as queued, with its start and "suspended" as reason', () => {
    const suspended = new JobIndex(parseSqueue(recorded('squeue-suspended-requeued').stdout)).find(
      '7',
    );
    expect(recordToStatus(suspended ?? { id: '', nativeState: '' }, at(1795315812))).toMatchObject({
      state: 'queued',
      nativeState: 'SUSPENDED',
      reason: 'suspended',
      startTime: at(1795315806),
    });
  });
});

describe('small parsers', () => {
  it('reads exit codes', () => {
    expect(parseExitCode('3:0')).toEqual({ exitCode: 3 });
    expect(parseExitCode('0:9')).toEqual({ exitSignal: 9 });
    expect(parseExitCode('0:0')).toEqual({ exitCode: 0 });
    expect(parseExitCode('')).toEqual({});
    expect(parseExitCode('x')).toEqual({});
  });

  it('reads sbatch --parsable output', () => {
    expect(parseSbatch(recorded('sbatch-ok').stdout)).toEqual({ jobId: '21' });
    expect(parseSbatch('123;testlab\n')).toEqual({ jobId: '123', cluster: 'testlab' });
    expect(parseSbatch('')).toBeUndefined();
    expect(parseSbatch('Submitted batch job 5\n')).toBeUndefined();
    expect(parseSbatch(recorded('sbatch-invalid-partition').stdout)).toBeUndefined();
  });

  it('knows which job ids callers may pass', () => {
    for (const id of ['1', '123_4', '123+0']) expect(SLURM_JOB_ID.test(id)).toBe(true);
    for (const id of ['', 'abc', '1;2', '123_[1-3]', '-1', '1 2', '12\n']) {
      expect(SLURM_JOB_ID.test(id)).toBe(false);
    }
  });

  it('tells scancel errors that matter from ones about ended jobs', () => {
    expect(classifyScancelErrors(recorded('scancel-other-user').stderr)).toEqual({
      ignored: [],
      errors: ['scancel: error: Kill job error on job id 11: Access/permission denied'],
    });
    expect(classifyScancelErrors(recorded('scancel-gone').stderr)).toEqual({
      ignored: [],
      errors: [],
    });
    // Older and newer scancel versions say so for ended jobs; 22.05 stays silent.
    const older =
      'scancel: error: Kill job error on job id 5: Job/step already completing or completed\n' +
      'scancel: error: Kill job error on job id 9: Invalid job id specified\n';
    expect(classifyScancelErrors(older).errors).toEqual([]);
    expect(classifyScancelErrors(older).ignored).toHaveLength(2);
  });
});
