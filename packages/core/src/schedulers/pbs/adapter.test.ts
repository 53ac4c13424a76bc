import { describe, expect, it } from 'vitest';

import { InvalidInputError, SchedulerError } from '../../errors.js';
import { FixtureRunner, capture } from '../fixture-runner.testutil.js';
import { PbsScheduler } from './adapter.js';
import { qstatJobsArgv } from './commands.js';

const PRO = 'pbspro-2022.1';
const TORQUE = 'torque-6.1';
const script = '#!/bin/bash\necho hi\n';

function pro(replies: ConstructorParameters<typeof FixtureRunner>[0]): {
  runner: FixtureRunner;
  pbs: PbsScheduler;
} {
  const runner = new FixtureRunner(replies);
  return { runner, pbs: new PbsScheduler(runner, { user: 'hpcjtest', clusterName: 'prolab' }) };
}

function torque(replies: ConstructorParameters<typeof FixtureRunner>[0]): {
  runner: FixtureRunner;
  pbs: PbsScheduler;
} {
  const runner = new FixtureRunner(replies);
  return {
    runner,
    pbs: new PbsScheduler(runner, { user: 'hpcjtest', clusterName: 'tlab', flavor: 'torque' }),
  };
}

describe('PbsScheduler (PBS Pro) status', () => {
  it('answers every id from one qstat, reading stdout although qstat exits 153 for an unknown id', async () => {
    const { runner, pbs } = pro({ qstat: capture(PRO, 'qstat-jobs') });
    const ids = [
      '1040.pbs-head',
      '1041.pbs-head',
      '1039',
      '1038.pbs-head',
      '1037.pbs-head',
      '1036.pbs-head',
      '1035[].pbs-head',
      '1034.pbs-head',
      '1033.pbs-head',
      '999.pbs-head',
      'bogus;id',
    ];
    const result = await pbs.status(ids);
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0]?.argv).toEqual(qstatJobsArgv('pbspro', ids.slice(0, -1)));
    expect(runner.calls[0]?.argv.slice(0, 8)).toEqual([
      'env',
      'TZ=UTC',
      'qstat',
      '-f',
      '-F',
      'json',
      '-x',
      '1040.pbs-head',
    ]);
    expect([...result.keys()].sort()).toEqual([...ids].sort());
    expect(result.get('1040.pbs-head')).toMatchObject({
      state: 'starting',
      nativeState: 'R',
      name: 'hpcj-jupyter-ünïcødé-✓',
      nodes: ['node1', 'node2'],
      timeLimitMinutes: 60,
      startTime: new Date(Date.UTC(2026, 11, 7, 15, 41, 2)),
    });
    expect(result.get('1041.pbs-head')).toMatchObject({
      state: 'queued',
      expectedStart: new Date(Date.UTC(2026, 11, 7, 16, 41, 2)),
    });
    expect(result.get('1041.pbs-head')?.reason).toMatch(/Insufficient amount of resource/);
    // Found by sequence number although asked without the server part.
    expect(result.get('1039')).toMatchObject({ id: '1039', state: 'completed', exitCode: 0 });
    expect(result.get('1038.pbs-head')).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(result.get('1037.pbs-head')).toMatchObject({ state: 'timed-out' });
    expect(result.get('1036.pbs-head')).toMatchObject({ state: 'cancelled', exitSignal: 15 });
    expect(result.get('1035[].pbs-head')).toMatchObject({ state: 'starting', nativeState: 'B' });
    expect(result.get('1034.pbs-head')).toMatchObject({
      state: 'queued',
      reason: 'job held by user hpcjtest',
    });
    expect(result.get('1033.pbs-head')).toMatchObject({ state: 'cancelled' });
    expect(result.get('999.pbs-head')).toMatchObject({ state: 'unknown' });
    expect(result.get('999.pbs-head')?.reason).toMatch(/no longer knows this job/);
    expect(result.get('bogus;id')).toMatchObject({ state: 'unknown' });
  });

  it.each([
    ['qstat-unknown', /no longer knows this job/],
    ['qstat-down', /qstat failed on prolab: Connection refused; cannot connect to server pbs-head/],
    ['qstat-timeout', /qstat did not answer within 30 s on prolab/],
    ['qstat-garbled', /qstat printed JSON that could not be read/],
  ])('%s makes the job unknown, never completed', async (name, reason) => {
    const { pbs } = pro({ qstat: capture(PRO, name) });
    const result = await pbs.status(['999.pbs-head']);
    expect(result.get('999.pbs-head')?.state).toBe('unknown');
    expect(result.get('999.pbs-head')?.reason).toMatch(reason);
  });

  it('asks nothing for ids that are not PBS ids', async () => {
    const { runner, pbs } = pro({});
    const result = await pbs.status(['../x', '12 3']);
    expect(runner.calls).toHaveLength(0);
    expect([...result.values()].map((s) => s.state)).toEqual(['unknown', 'unknown']);
  });
});

describe('PbsScheduler (PBS Pro) submit, cancel, site info, listJobs', () => {
  it('submits the script with its #PBS header on qsub stdin and returns the printed id', async () => {
    const { runner, pbs } = pro({ qsub: capture(PRO, 'qsub') });
    const id = await pbs.submit({
      script,
      resources: { name: 'hpcj-jupyter-1', nodes: 2, cpusPerTask: 4, partition: 'workq' },
    });
    expect(id).toBe('1042.pbs-head');
    expect(runner.calls[0]?.argv).toEqual(['qsub']);
    expect(runner.calls[0]?.options.stdin).toBe(
      '#!/bin/bash\n#PBS -N hpcj-jupyter-1\n#PBS -l select=2:ncpus=4:mpiprocs=1\n#PBS -l place=scatter\n#PBS -q workq\necho hi\n',
    );
  });

  it('refuses an option PBS Pro lacks before running anything', async () => {
    const { runner, pbs } = pro({});
    await expect(
      pbs.submit({ script, resources: { name: 'hpcj-x', qos: 'high' } }),
    ).rejects.toThrow(/qos is not supported on PBS Pro/);
    expect(runner.calls).toHaveLength(0);
  });

  it.each([
    ['qsub-unknown-queue', /qsub on prolab refused the job: Unknown queue/, /qstat -Q/],
    ['qsub-down', /cannot connect to server/, /PBS server did not answer/],
  ])('%s becomes a SchedulerError with a hint', async (name, message, hint) => {
    const { pbs } = pro({ qsub: capture(PRO, name) });
    const error = await pbs
      .submit({ script, resources: { name: 'hpcj-x' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).message).toMatch(message);
    expect((error as SchedulerError).hint).toMatch(hint);
  });

  it('a qsub that times out may have submitted: the hint says to look first', async () => {
    const { pbs } = pro({ qsub: capture(PRO, 'qstat-timeout') });
    const error = (await pbs
      .submit({ script, resources: { name: 'hpcj-x' } })
      .catch((e: unknown) => e)) as SchedulerError;
    expect(error.message).toMatch(/qsub on prolab did not finish/);
    expect(error.hint).toMatch(/look for a job named "hpcj-x"/);
  });

  it('qdel of a finished job is what the caller wanted; a server that is down is an error', async () => {
    await expect(
      pro({ qdel: capture(PRO, 'qdel-finished') }).pbs.cancel(['1039.pbs-head']),
    ).resolves.toBeUndefined();
    await expect(
      pro({ qdel: capture(PRO, 'qdel-down') }).pbs.cancel(['1039.pbs-head']),
    ).rejects.toThrow(/qdel on prolab could not cancel/);
    const { runner, pbs } = pro({});
    await expect(pbs.cancel(['1;rm'])).rejects.toBeInstanceOf(InvalidInputError);
    expect(runner.calls).toHaveLength(0);
  });

  it('reads execution queues, the default queue and node sizes', async () => {
    const { pbs } = pro({
      'qstat -Q': capture(PRO, 'qstat-queues'),
      'qstat -B': capture(PRO, 'qstat-server'),
      pbsnodes: capture(PRO, 'pbsnodes'),
    });
    const site = await pbs.siteInfo();
    expect(site.user).toBe('hpcjtest');
    expect(site.partitions).toEqual([
      {
        name: 'workq',
        isDefault: true,
        available: true,
        totalNodes: 2,
        cpusPerNode: 16,
        memoryMiBPerNode: 64000,
        maxWalltimeMinutes: 1440,
        defaultWalltimeMinutes: 60,
      },
      {
        name: 'gpu',
        isDefault: false,
        available: false,
        totalNodes: 1,
        cpusPerNode: 48,
        memoryMiBPerNode: 245760,
        gpusPerNode: 4,
        maxNodes: 2,
        maxWalltimeMinutes: 720,
      },
    ]);
  });

  it('lists this user live jobs by name prefix', async () => {
    const { runner, pbs } = pro({ qstat: capture(PRO, 'qstat-all') });
    const jobs = await pbs.listJobs('hpcj-');
    expect(runner.calls[0]?.argv).toEqual(['env', 'TZ=UTC', 'qstat', '-f', '-F', 'json']);
    expect(jobs.map((j) => j.id).sort()).toEqual([
      '1034.pbs-head',
      '1035[].pbs-head',
      '1040.pbs-head',
      '1041.pbs-head',
    ]);
  });

  it('listJobs throws when the server is down: an empty list would say no jobs exist', async () => {
    await expect(pro({ qstat: capture(PRO, 'qstat-down') }).pbs.listJobs('hpcj-')).rejects.toThrow(
      /could not list jobs/,
    );
  });
});

describe('PbsScheduler (Torque)', () => {
  it('reads qstat -x XML for every id in one call', async () => {
    const { runner, pbs } = torque({ qstat: capture(TORQUE, 'qstat-jobs') });
    const ids = ['2201', '2202', '2203', '2204', '2205[]', '2206', '2207', '2208', '999'].map(
      (n) => `${n}.torque-head.example.org`,
    );
    const result = await pbs.status(ids);
    expect(runner.calls[0]?.argv).toEqual(['env', 'TZ=UTC', 'qstat', '-f', '-x', ...ids]);
    const get = (n: string) => result.get(`${n}.torque-head.example.org`);
    expect(get('2201')).toMatchObject({
      state: 'starting',
      name: 'hpcj-jupyter-ünïcødé-✓',
      nodes: ['tnode1', 'tnode2'],
      startTime: new Date(1796658060 * 1000),
    });
    expect(get('2202')).toMatchObject({ state: 'queued', name: 'hpcj-q & <x>' });
    expect(get('2203')).toMatchObject({
      state: 'completed',
      exitCode: 0,
      endTime: new Date(1796657600 * 1000),
    });
    expect(get('2204')).toMatchObject({ state: 'timed-out' });
    expect(get('2205[]')).toMatchObject({ state: 'starting' });
    expect(get('2206')).toMatchObject({ state: 'queued', reason: 'held' });
    expect(get('2207')).toMatchObject({ state: 'cancelled', exitSignal: 15 });
    expect(get('2208')).toMatchObject({ state: 'failed', exitCode: 2 });
    expect(get('999')?.state).toBe('unknown');
    expect(get('999')?.reason).toMatch(/keep_completed/);
  });

  it.each([
    ['qstat-down', /Unable to communicate with torque-head/],
    ['qstat-timeout', /did not answer within 30 s/],
    ['qstat-garbled', /qstat printed XML that could not be read/],
  ])('%s makes the job unknown', async (name, reason) => {
    const result = await torque({ qstat: capture(TORQUE, name) }).pbs.status([
      '2201.torque-head.example.org',
    ]);
    expect(result.get('2201.torque-head.example.org')).toMatchObject({ state: 'unknown' });
    expect(result.get('2201.torque-head.example.org')?.reason).toMatch(reason);
  });

  it('submits with nodes=N:ppn=C and reads the printed id; refusals carry a hint', async () => {
    const { runner, pbs } = torque({ qsub: capture(TORQUE, 'qsub') });
    await expect(
      pbs.submit({ script, resources: { name: 'hpcj-t', nodes: 2, tasksPerNode: 4, qos: 'long' } }),
    ).resolves.toBe('2209.torque-head.example.org');
    expect(runner.calls[0]?.options.stdin).toContain('#PBS -l nodes=2:ppn=4\n');
    const error = (await torque({ qsub: capture(TORQUE, 'qsub-too-much') })
      .pbs.submit({ script, resources: { name: 'hpcj-t' } })
      .catch((e: unknown) => e)) as SchedulerError;
    expect(error.hint).toMatch(/exceeds the queue limits/);
  });

  it('qdel of an id the server forgot is not an error', async () => {
    await expect(
      torque({ qdel: capture(TORQUE, 'qdel-unknown') }).pbs.cancel(['999.torque-head.example.org']),
    ).resolves.toBeUndefined();
  });

  it('reads queues from qstat -Q -f text and nodes from pbsnodes -x', async () => {
    const { pbs } = torque({
      'qstat -Q': capture(TORQUE, 'qstat-queues'),
      'qstat -B': capture(TORQUE, 'qstat-server'),
      pbsnodes: capture(TORQUE, 'pbsnodes'),
    });
    const site = await pbs.siteInfo();
    expect(site.partitions).toEqual([
      {
        name: 'batch',
        isDefault: true,
        available: true,
        totalNodes: 3,
        cpusPerNode: 24,
        memoryMiBPerNode: 128000,
        gpusPerNode: 2,
        maxWalltimeMinutes: 2880,
        defaultWalltimeMinutes: 60,
      },
      {
        name: 'debug',
        isDefault: false,
        available: false,
        totalNodes: 3,
        cpusPerNode: 24,
        memoryMiBPerNode: 128000,
        gpusPerNode: 2,
        maxNodes: 2,
        maxWalltimeMinutes: 30,
      },
    ]);
  });
});
