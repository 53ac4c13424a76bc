import { describe, expect, it } from 'vitest';

import { InvalidInputError, SchedulerError } from '../../errors.js';
import { FixtureRunner, capture } from '../fixture-runner.testutil.js';
import { LsfScheduler } from './adapter.js';
import { bjobsArgv } from './commands.js';

const DIR = 'lsf-10.1';
const script = '#!/bin/bash\necho hi\n';
/** When the recorded jobs ran; LSF prints no year, so the clock decides it. */
const now = (): Date => new Date(Date.UTC(2026, 11, 7, 15, 52));

function lsf(replies: ConstructorParameters<typeof FixtureRunner>[0]): {
  runner: FixtureRunner;
  lsf: LsfScheduler;
} {
  const runner = new FixtureRunner(replies);
  return {
    runner,
    lsf: new LsfScheduler(runner, { user: 'hpcjtest', clusterName: 'lsflab', now }),
  };
}

describe('LsfScheduler status', () => {
  it('answers every id from one bjobs -json, including ERROR records for unknown ids', async () => {
    const { runner, lsf: s } = lsf({ bjobs: capture(DIR, 'bjobs-jobs') });
    const ids = [
      '5120',
      '5121',
      '5122',
      '5123',
      '5124',
      '5126',
      '5125',
      '5125[2]',
      '5127',
      '999',
      '12x',
    ];
    const result = await s.status(ids);
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0]?.argv).toEqual(bjobsArgv(ids.slice(0, -1)));
    expect(runner.calls[0]?.argv.slice(0, 4)).toEqual(['env', 'TZ=UTC', 'bjobs', '-o']);
    expect(result.get('5120')).toMatchObject({
      state: 'starting',
      name: 'hpcj-jupyter-ünïcødé-✓',
      nodes: ['lnode1', 'lnode2'],
      startTime: new Date(Date.UTC(2026, 11, 7, 15, 41)),
      timeLimitMinutes: 60,
    });
    expect(result.get('5121')).toMatchObject({
      state: 'queued',
      reason: 'New job is waiting for scheduling;',
    });
    expect(result.get('5122')).toMatchObject({
      state: 'completed',
      exitCode: 0,
      endTime: new Date(Date.UTC(2026, 11, 7, 15, 30)),
    });
    expect(result.get('5123')).toMatchObject({ state: 'failed', exitCode: 1 });
    expect(result.get('5124')).toMatchObject({ state: 'timed-out', exitCode: 140 });
    expect(result.get('5126')).toMatchObject({ state: 'cancelled' });
    // An array job runs while any element runs; an element is answered on its own.
    expect(result.get('5125')).toMatchObject({ id: '5125', state: 'starting' });
    expect(result.get('5125[2]')).toMatchObject({
      state: 'queued',
      reason: 'Job slot limit reached;',
    });
    expect(result.get('5127')).toMatchObject({ state: 'queued', nativeState: 'PSUSP' });
    expect(result.get('999')).toMatchObject({ state: 'unknown' });
    expect(result.get('999')?.reason).toMatch(/CLEAN_PERIOD/);
    expect(result.get('12x')?.state).toBe('unknown');
  });

  it.each([
    ['bjobs-unknown', /no longer knows this job/],
    ['bjobs-down', /bjobs failed on lsflab: LSF is down/],
    ['bjobs-timeout', /bjobs did not answer within 30 s on lsflab/],
    ['bjobs-garbled', /bjobs printed JSON that could not be read/],
  ])('%s makes the job unknown, never completed', async (name, reason) => {
    const result = await lsf({ bjobs: capture(DIR, name) }).lsf.status(['999']);
    expect(result.get('999')?.state).toBe('unknown');
    expect(result.get('999')?.reason).toMatch(reason);
  });
});

describe('LsfScheduler submit, cancel, site info, listJobs', () => {
  it('submits the script with #BSUB lines on bsub stdin and reads the id', async () => {
    const { runner, lsf: s } = lsf({ bsub: capture(DIR, 'bsub') });
    await expect(
      s.submit({
        script,
        resources: { name: 'hpcj-l', nodes: 2, tasksPerNode: 8, memoryMiB: 4096 },
      }),
    ).resolves.toBe('5130');
    expect(runner.calls[0]?.argv).toEqual(['bsub']);
    expect(runner.calls[0]?.options.stdin).toBe(
      '#!/bin/bash\n#BSUB -J hpcj-l\n#BSUB -n 16\n#BSUB -R "span[ptile=8] rusage[mem=4096MB]"\necho hi\n',
    );
  });

  it('turns refusals and a daemon that never answers into typed errors with hints', async () => {
    const refused = (await lsf({ bsub: capture(DIR, 'bsub-no-queue') })
      .lsf.submit({ script, resources: { name: 'hpcj-l', partition: 'nosuch' } })
      .catch((e: unknown) => e)) as SchedulerError;
    expect(refused).toBeInstanceOf(SchedulerError);
    expect(refused.message).toMatch(/bsub on lsflab refused the job: nosuch: No such queue/);
    expect(refused.hint).toMatch(/bqueues/);
    const hung = (await lsf({ bsub: capture(DIR, 'bsub-down') })
      .lsf.submit({ script, resources: { name: 'hpcj-l' } })
      .catch((e: unknown) => e)) as SchedulerError;
    expect(hung.hint).toMatch(/look for a job named "hpcj-l"/);
    await expect(
      lsf({}).lsf.submit({ script, resources: { name: 'hpcj-l', qos: 'x' } }),
    ).rejects.toThrow(/^qos is not supported on LSF/);
  });

  it('bkill of a finished job is fine; LSF down is not; bad ids run nothing', async () => {
    await expect(
      lsf({ bkill: capture(DIR, 'bkill-finished') }).lsf.cancel(['5122']),
    ).resolves.toBeUndefined();
    const error = (await lsf({ bkill: capture(DIR, 'bkill-down') })
      .lsf.cancel(['5122'])
      .catch((e: unknown) => e)) as SchedulerError;
    expect(error.message).toMatch(/bkill on lsflab could not cancel: LSF is down/);
    expect(error.hint).toMatch(/mbatchd/);
    const { runner, lsf: s } = lsf({});
    await expect(s.cancel(['5122 5123'])).rejects.toBeInstanceOf(InvalidInputError);
    expect(runner.calls).toHaveLength(0);
  });

  it('reads queues, the default queue and host slots', async () => {
    const { lsf: s } = lsf({
      bqueues: capture(DIR, 'bqueues'),
      bhosts: capture(DIR, 'bhosts'),
      bparams: capture(DIR, 'bparams'),
    });
    const site = await s.siteInfo();
    expect(site.partitions).toEqual([
      { name: 'priority', isDefault: false, available: true, totalNodes: 3, cpusPerNode: 48 },
      { name: 'normal', isDefault: true, available: true, totalNodes: 3, cpusPerNode: 48 },
      { name: 'night', isDefault: false, available: false, totalNodes: 3, cpusPerNode: 48 },
    ]);
  });

  it('lists live jobs by name prefix; "No unfinished job found" is an empty list', async () => {
    const jobs = await lsf({ bjobs: capture(DIR, 'bjobs-mine') }).lsf.listJobs('hpcj-');
    expect(jobs.map((j) => j.id)).toEqual(['5120', '5121']);
    await expect(lsf({ bjobs: capture(DIR, 'bjobs-none') }).lsf.listJobs('hpcj-')).resolves.toEqual(
      [],
    );
    await expect(lsf({ bjobs: capture(DIR, 'bjobs-down') }).lsf.listJobs('hpcj-')).rejects.toThrow(
      /could not list jobs/,
    );
  });
});
