import { describe, expect, it } from 'vitest';

import { InvalidInputError, SchedulerError } from '../../errors.js';
import { FixtureRunner, capture } from '../fixture-runner.testutil.js';
import { HtcondorScheduler } from './adapter.js';
import { condorHistoryArgv, condorQArgv } from './commands.js';

const DIR = 'htcondor-23.0';
const script = '#!/bin/bash\necho hi\n';

function condor(replies: ConstructorParameters<typeof FixtureRunner>[0]): {
  runner: FixtureRunner;
  condor: HtcondorScheduler;
} {
  const runner = new FixtureRunner(replies);
  return {
    runner,
    condor: new HtcondorScheduler(runner, { user: 'hpcjtest', clusterName: 'pool' }),
  };
}

describe('HtcondorScheduler status', () => {
  it('asks condor_q for every id and condor_history only for those that left the queue', async () => {
    const { runner, condor: c } = condor({
      condor_q: capture(DIR, 'condor_q-jobs'),
      condor_history: capture(DIR, 'condor_history-jobs'),
    });
    const ids = [
      '305.0',
      '306.0',
      '307.0',
      '308',
      '308.1',
      '301.0',
      '302.0',
      '303.0',
      '304.0',
      '300.0',
      '299.0',
      '1.2.3',
    ];
    const result = await c.status(ids);
    expect(runner.commands()).toEqual(['condor_q', 'condor_history']);
    expect(runner.calls[0]?.argv).toEqual(condorQArgv(ids.slice(0, -1)));
    expect(runner.calls[1]?.argv).toEqual(
      condorHistoryArgv(['301.0', '302.0', '303.0', '304.0', '300.0', '299.0']),
    );
    expect(result.get('305.0')).toMatchObject({
      state: 'starting',
      nativeState: 'Running',
      name: 'hpcj-jupyter-ünïcødé-✓',
      nodes: ['exec1.example.org'],
      timeLimitMinutes: 60,
      startTime: new Date(1796658060 * 1000),
    });
    expect(result.get('306.0')).toMatchObject({ state: 'queued', nativeState: 'Idle' });
    expect(result.get('307.0')).toMatchObject({ state: 'queued', nativeState: 'Held' });
    expect(result.get('307.0')?.reason).toMatch(/Permission denied/);
    // A cluster runs while any of its procs runs.
    expect(result.get('308')).toMatchObject({ id: '308', state: 'starting' });
    expect(result.get('308.1')).toMatchObject({ state: 'queued' });
    expect(result.get('301.0')).toMatchObject({
      state: 'completed',
      exitCode: 0,
      endTime: new Date(1796657600 * 1000),
      nodes: ['exec1.example.org'],
    });
    expect(result.get('302.0')).toMatchObject({ state: 'failed', exitCode: 2 });
    expect(result.get('303.0')).toMatchObject({
      state: 'cancelled',
      reason: 'via condor_rm (by user hpcjtest)',
    });
    expect(result.get('304.0')).toMatchObject({ state: 'timed-out' });
    expect(result.get('300.0')).toMatchObject({ state: 'failed', exitSignal: 9 });
    expect(result.get('299.0')).toMatchObject({ state: 'unknown' });
    expect(result.get('299.0')?.reason).toMatch(/neither in the queue nor in the schedd history/);
    expect(result.get('1.2.3')?.state).toBe('unknown');
  });

  it('a job gone from both the queue and the history is unknown', async () => {
    const result = await condor({
      condor_q: capture(DIR, 'condor_q-empty'),
      condor_history: capture(DIR, 'condor_history-empty'),
    }).condor.status(['299.0']);
    expect(result.get('299.0')?.state).toBe('unknown');
  });

  it.each([
    ['condor_q-down', /condor_q failed on pool: Failed to fetch ads from/],
    ['condor_q-timeout', /condor_q did not answer within 30 s on pool/],
    ['condor_q-garbled', /condor_q printed JSON that could not be read/],
  ])('%s makes every id unknown without asking the history', async (name, reason) => {
    const { runner, condor: c } = condor({ condor_q: capture(DIR, name) });
    const result = await c.status(['305.0']);
    expect(runner.commands()).toEqual(['condor_q']);
    expect(result.get('305.0')?.state).toBe('unknown');
    expect(result.get('305.0')?.reason).toMatch(reason);
  });

  it('a history that cannot be read leaves the jobs that left the queue unknown', async () => {
    const result = await condor({
      condor_q: capture(DIR, 'condor_q-empty'),
      condor_history: capture(DIR, 'condor_history-down'),
    }).condor.status(['301.0']);
    expect(result.get('301.0')).toMatchObject({ state: 'unknown' });
    expect(result.get('301.0')?.reason).toMatch(/no longer in the queue and condor_history failed/);
  });
});

describe('HtcondorScheduler submit, cancel, site info, listJobs', () => {
  it('writes the script (0700) to the work directory and submits a description naming it on stdin', async () => {
    const { runner, condor: c } = condor({ condor_submit: capture(DIR, 'condor_submit') });
    const id = await c.submit({
      script,
      resources: {
        name: 'hpcj-c',
        workdir: '/home/u/.hpc-jupyter/s1',
        cpusPerTask: 4,
        walltimeMinutes: 30,
      },
    });
    expect(id).toBe('310.0');
    expect(runner.written).toHaveLength(1);
    const path = runner.written[0]?.path ?? '';
    expect(path).toMatch(/^\/home\/u\/\.hpc-jupyter\/s1\/hpcj-job-[0-9a-f]{12}\.sh$/);
    expect(runner.written[0]).toMatchObject({ data: script, mode: 0o700 });
    expect(runner.calls[0]?.argv).toEqual(['condor_submit', '-terse', '-']);
    expect(runner.calls[0]?.options.stdin).toContain(`executable = ${path}\n`);
    expect(runner.calls[0]?.options.stdin).toContain('+MaxRuntime = 1800\n');
  });

  it('refuses what HTCondor cannot express, before writing anything', async () => {
    const { runner, condor: c } = condor({});
    await expect(c.submit({ script, resources: { name: 'hpcj-c' } })).rejects.toThrow(
      /^workdir is needed on HTCondor/,
    );
    await expect(
      c.submit({ script, resources: { name: 'hpcj-c', workdir: '/w', mailOnStart: 'a@b.org' } }),
    ).rejects.toThrow(/^mailOnStart is not supported on HTCondor/);
    await expect(
      c.submit({ script, resources: { name: 'hpcj-c', workdir: '/w', partition: 'q' } }),
    ).rejects.toThrow(/^partition is not supported on HTCondor/);
    expect(runner.written).toHaveLength(0);
    expect(runner.calls).toHaveLength(0);
  });

  it('a schedd that is down refuses the submission with a hint', async () => {
    const error = (await condor({ condor_submit: capture(DIR, 'condor_submit-down') })
      .condor.submit({ script, resources: { name: 'hpcj-c', workdir: '/w' } })
      .catch((e: unknown) => e)) as SchedulerError;
    expect(error).toBeInstanceOf(SchedulerError);
    expect(error.message).toMatch(
      /condor_submit on pool refused the job: Can't find address of local schedd/,
    );
    expect(error.hint).toMatch(/schedd did not answer/);
  });

  it('condor_rm of a job that is gone is fine; a schedd that is down is not', async () => {
    await expect(
      condor({ condor_rm: capture(DIR, 'condor_rm-missing') }).condor.cancel(['305.0', '309.0']),
    ).resolves.toBeUndefined();
    await expect(
      condor({ condor_rm: capture(DIR, 'condor_rm-down') }).condor.cancel(['305.0']),
    ).rejects.toThrow(/could not remove/);
    await expect(condor({}).condor.cancel(['305.0; x'])).rejects.toBeInstanceOf(InvalidInputError);
  });

  it('describes the pool from condor_status slots', async () => {
    const site = await condor({ condor_status: capture(DIR, 'condor_status') }).condor.siteInfo();
    expect(site).toEqual({
      partitions: [],
      accounts: [],
      qos: [],
      user: 'hpcjtest',
      pool: { machines: 2, cpusPerMachine: 32, memoryMiBPerMachine: 128000, gpusPerMachine: 2 },
    });
  });

  it('lists live jobs by batch name', async () => {
    const jobs = await condor({ condor_q: capture(DIR, 'condor_q-jobs') }).condor.listJobs(
      'hpcj-engines',
    );
    expect(jobs.map((j) => j.id)).toEqual(['308.0', '308.1']);
    await expect(
      condor({ condor_q: capture(DIR, 'condor_q-down') }).condor.listJobs('hpcj-'),
    ).rejects.toThrow(/could not list jobs/);
  });
});
