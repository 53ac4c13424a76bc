import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import {
  AbortedError,
  InvalidInputError,
  SchedulerError,
  SshError,
  TimeoutError,
} from '../errors.js';
import type { CommandRunner, RunOptions, RunResult } from '../transport/types.js';
import {
  sacctArgv,
  sacctmgrAssocArgv,
  sacctmgrUserArgv,
  sinfoArgv,
  squeueArgv,
} from './slurm-commands.js';
import { SlurmScheduler } from './slurm.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../test/fixtures/slurm/adapter/', import.meta.url));

function recorded(name: string): RunResult {
  const { code, stdout, stderr } = JSON.parse(
    readFileSync(`${FIXTURE_DIR}${name}.json`, 'utf8'),
  ) as RunResult;
  return { code, stdout, stderr };
}

/** The Slurm command of an argv, past the `env VAR=...` prefix. */
function commandOf(argv: readonly string[]): string {
  let i = 0;
  if (argv[0] === 'env') {
    i = 1;
    while (argv[i]?.includes('=') === true) i += 1;
  }
  return argv[i] ?? '';
}

type Reply =
  RunResult | Error | ((argv: readonly string[], options: RunOptions) => Promise<RunResult>);

/** A CommandRunner that answers by command name and records every call. */
class RecordingRunner implements CommandRunner {
  readonly calls: { argv: readonly string[]; options: RunOptions }[] = [];
  constructor(private readonly replies: Record<string, Reply>) {}

  run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    this.calls.push({ argv, options });
    const reply = this.replies[commandOf(argv)];
    if (reply === undefined)
      return Promise.reject(new Error(`unexpected command ${argv.join(' ')}`));
    if (reply instanceof Error) return Promise.reject(reply);
    if (typeof reply === 'function') return reply(argv, options);
    return Promise.resolve(reply);
  }

  commands(): string[] {
    return this.calls.map((c) => commandOf(c.argv));
  }
}

const ok = (stdout: string): RunResult => ({ code: 0, stdout, stderr: '' });
/** The clock when squeue-pending was recorded. */
const now = (): Date => new Date(1795315645 * 1000);

/** `user: null` leaves the login name to `id -un`. */
function scheduler(runner: CommandRunner, user: string | null = 'hpcjtest'): SlurmScheduler {
  return new SlurmScheduler(runner, { user: user ?? undefined, clusterName: 'testlab', now });
}

describe('SlurmScheduler.status', () => {
  const ids = Array.from({ length: 20 }, (_, i) => String(i + 1));

  it('asks about 20 ids with one squeue and at most one sacct, as argv arrays', async () => {
    const runner = new RecordingRunner({
      squeue: recorded('squeue-pending'),
      sacct: recorded('sacct-finished'),
    });
    const result = await scheduler(runner).status(ids);

    expect(runner.commands()).toEqual(['squeue', 'sacct']);
    expect(runner.calls[0]?.argv).toEqual([
      'env',
      'TZ=UTC',
      'SLURM_TIME_FORMAT=%s',
      'squeue',
      '--noheader',
      '--states=all',
      '--user=hpcjtest',
      '--format=%i\x1f%T\x1f%r\x1f%V\x1f%S\x1f%e\x1f%l\x1f%P\x1f%N\x1f%j',
    ]);
    // Finished jobs squeue still shows (for exit codes) and ids it does not show at all.
    expect(runner.calls[1]?.argv).toEqual(
      sacctArgv(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '17', '18', '19', '20']),
    );
    expect(runner.calls[0]?.options.timeout).toBe(30_000);

    expect([...result.keys()].sort()).toEqual([...ids].sort());
    expect(result.get('13')).toMatchObject({
      state: 'queued',
      reason: 'Resources',
      expectedStart: new Date(1795315930 * 1000),
    });
    expect(result.get('2')).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(result.get('3')).toMatchObject({ state: 'failed', exitSignal: 9 });
    expect(result.get('12')).toMatchObject({ state: 'starting', nodes: ['node1'] });
    expect(result.get('8')).toMatchObject({ state: 'completed' });
    // In neither squeue nor sacct: unknown, never completed.
    expect(result.get('20')).toMatchObject({ state: 'unknown' });
    expect(result.get('20')?.reason).toMatch(/neither in the queue nor in the accounting/);
  });

  it('needs no sacct when squeue answers for every id', async () => {
    const runner = new RecordingRunner({ squeue: recorded('squeue-pending') });
    const result = await scheduler(runner).status(['12', '13', '14', '15', '16']);
    expect(runner.commands()).toEqual(['squeue']);
    expect([...result.values()].map((s) => s.state)).toEqual([
      'starting',
      'queued',
      'queued',
      'queued',
      'queued',
    ]);
  });

  it('makes every id unknown, without sacct, when the controller is down', async () => {
    const runner = new RecordingRunner({ squeue: recorded('squeue-controller-down') });
    const result = await scheduler(runner).status(ids);
    expect(runner.commands()).toEqual(['squeue']);
    expect(result.size).toBe(20);
    for (const status of result.values()) {
      expect(status.state).toBe('unknown');
      expect(status.reason).toBe(
        'squeue failed on testlab: slurm_load_jobs error: Unable to contact slurm controller (connect failure)',
      );
    }
  });

  it('makes every id unknown when squeue times out or the connection fails', async () => {
    for (const error of [new TimeoutError('timed out'), new SshError('connection lost', 'login')]) {
      const runner = new RecordingRunner({ squeue: error });
      const result = await scheduler(runner).status(['1', '2']);
      expect([...result.values()].map((s) => s.state)).toEqual(['unknown', 'unknown']);
      expect(result.get('1')?.reason).toMatch(
        error instanceof TimeoutError ? /did not answer within 30 s/ : /connection lost/,
      );
    }
  });

  it('makes ids unknown, never completed, when accounting is disabled', async () => {
    const runner = new RecordingRunner({
      squeue: recorded('squeue-pending'),
      sacct: recorded('sacct-accounting-disabled'),
    });
    const result = await scheduler(runner).status(['13', '30', '2']);
    expect(result.get('13')?.state).toBe('queued');
    expect(result.get('30')?.state).toBe('unknown');
    expect(result.get('30')?.reason).toMatch(/keeps no job accounting/);
    // Squeue's answer stands when only the exit code was wanted.
    expect(result.get('2')).toMatchObject({ state: 'failed', nativeState: 'FAILED' });
    expect(result.get('2')?.exitCode).toBeUndefined();
  });

  it('quotes sacct when the accounting database does not answer', async () => {
    const runner = new RecordingRunner({
      squeue: recorded('squeue-pending'),
      sacct: recorded('sacct-dbd-down'),
    });
    const result = await scheduler(runner).status(['30']);
    expect(result.get('30')?.reason).toMatch(/Problem talking to the database/);
  });

  it('reports a garbled squeue line as unknown instead of dropping the job', async () => {
    const stdout = recorded('squeue-pending').stdout;
    const cut = stdout.slice(0, stdout.lastIndexOf('\n', stdout.length - 2) + 12);
    const runner = new RecordingRunner({ squeue: ok(cut), sacct: ok('') });
    const result = await scheduler(runner).status(['12', '13']);
    expect(result.get('12')).toMatchObject({
      state: 'unknown',
      reason: expect.stringMatching(/unreadable/) as string,
    });
    expect(result.get('13')?.state).toBe('queued');
    expect(runner.commands()).toEqual(['squeue']);
  });

  it('takes a live state only in accounting as unknown (not our job, or lost)', async () => {
    const runner = new RecordingRunner({ squeue: ok(''), sacct: recorded('sacct-finished') });
    const result = await scheduler(runner).status(['4', '1']);
    expect(result.get('4')).toMatchObject({ state: 'unknown', nativeState: 'RUNNING' });
    expect(result.get('1')).toMatchObject({ state: 'completed', exitCode: 0 });
  });

  it('answers for ids that are not Slurm ids without asking Slurm about them', async () => {
    const runner = new RecordingRunner({});
    const result = await scheduler(runner).status(['abc', '1;rm']);
    expect(runner.calls).toEqual([]);
    expect(result.get('1;rm')).toMatchObject({ state: 'unknown' });
  });

  it('asks the login name once and reuses it', async () => {
    const runner = new RecordingRunner({ id: recorded('id'), squeue: recorded('squeue-pending') });
    const slurm = scheduler(runner, null);
    await slurm.status(['13']);
    await slurm.status(['14']);
    expect(runner.commands()).toEqual(['id', 'squeue', 'squeue']);
    expect(runner.calls[0]?.argv).toEqual(['id', '-un']);
    expect(runner.calls[1]?.argv).toEqual(squeueArgv('hpcjtest'));
  });

  it('throws AbortedError when cancelled, before or during the call', async () => {
    const runner = new RecordingRunner({ squeue: recorded('squeue-pending') });
    await expect(scheduler(runner).status(['1'], { signal: AbortSignal.abort() })).rejects.toThrow(
      AbortedError,
    );
    expect(runner.calls).toEqual([]);
    const controller = new AbortController();
    const slow = new RecordingRunner({
      squeue: (_argv, options) =>
        new Promise((_resolve, reject) => {
          options.signal?.addEventListener('abort', () => {
            reject(new Error('killed'));
          });
        }),
    });
    const pending = scheduler(slow).status(['1'], { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toThrow(AbortedError);
  });
});

describe('SlurmScheduler.submit', () => {
  const script = '#!/bin/bash\nexec jupyter lab\n';

  it('sends the script with its directives on stdin to sbatch --parsable', async () => {
    const runner = new RecordingRunner({ sbatch: recorded('sbatch-ok') });
    const id = await scheduler(runner).submit({
      script,
      resources: { name: 'hpcj-lab', nodes: 2, walltimeMinutes: 60, partition: 'debug' },
    });
    expect(id).toBe('21');
    expect(runner.calls).toHaveLength(1);
    expect(runner.calls[0]?.argv).toEqual(['sbatch', '--parsable']);
    expect(runner.calls[0]?.options.stdin).toBe(
      '#!/bin/bash\n#SBATCH --job-name=hpcj-lab\n#SBATCH --nodes=2\n#SBATCH --time=0-01:00:00\n' +
        '#SBATCH --partition=debug\nexec jupyter lab\n',
    );
  });

  it.each(['debug;rm -rf ~', 'debug\n#SBATCH --uid=0', 'debug evil', ''])(
    'refuses the partition %j before anything runs',
    async (partition) => {
      const runner = new RecordingRunner({ sbatch: recorded('sbatch-ok') });
      await expect(
        scheduler(runner).submit({ script, resources: { name: 'hpcj-x', partition } }),
      ).rejects.toThrow(InvalidInputError);
      expect(runner.calls).toEqual([]);
    },
  );

  it('refuses a script without #! before anything runs', async () => {
    const runner = new RecordingRunner({ sbatch: recorded('sbatch-ok') });
    await expect(
      scheduler(runner).submit({ script: 'jupyter lab\n', resources: { name: 'x' } }),
    ).rejects.toThrow(/#!/);
    expect(runner.calls).toEqual([]);
  });

  it("quotes sbatch's refusal with a hint", async () => {
    const runner = new RecordingRunner({ sbatch: recorded('sbatch-invalid-partition') });
    const error = await scheduler(runner)
      .submit({ script, resources: { name: 'x', partition: 'nosuch' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).message).toBe(
      'sbatch on testlab refused the job: invalid partition specified: nosuch; ' +
        'Batch job submission failed: Invalid partition name specified',
    );
    expect((error as SchedulerError).hint).toMatch(/sinfo/);
  });

  it('warns that a job may exist when sbatch did not finish', async () => {
    const runner = new RecordingRunner({ sbatch: new TimeoutError('sbatch timed out') });
    const error = await scheduler(runner)
      .submit({ script, resources: { name: 'hpcj-lab' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).hint).toMatch(/may have been submitted.*"hpcj-lab"/);
    expect((error as SchedulerError).cause).toBeInstanceOf(TimeoutError);
  });

  it('says to try again later when the controller is down', async () => {
    const runner = new RecordingRunner({ sbatch: recorded('sbatch-controller-down') });
    const error = await scheduler(runner)
      .submit({ script, resources: { name: 'x' } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).message).toMatch(/Unable to contact slurm controller/);
    expect((error as SchedulerError).hint).toMatch(/try again/);
  });

  it('refuses output without a job id', async () => {
    const runner = new RecordingRunner({ sbatch: ok('Submitted batch job 5\n') });
    await expect(scheduler(runner).submit({ script, resources: { name: 'x' } })).rejects.toThrow(
      /printed no job id/,
    );
  });
});

describe('SlurmScheduler.cancel', () => {
  it('runs one scancel with all ids', async () => {
    const runner = new RecordingRunner({ scancel: recorded('scancel-ok') });
    await scheduler(runner).cancel(['7', '8', '9', '8']);
    expect(runner.calls.map((c) => c.argv)).toEqual([['scancel', '7', '8', '9']]);
  });

  it('accepts ids of jobs that already ended', async () => {
    const runner = new RecordingRunner({ scancel: recorded('scancel-finished') });
    await expect(scheduler(runner).cancel(['1', '99999'])).resolves.toBeUndefined();
    const older = new RecordingRunner({
      scancel: {
        code: 1,
        stdout: '',
        stderr:
          'scancel: error: Kill job error on job id 1: Job/step already completing or completed\n',
      },
    });
    await expect(scheduler(older).cancel(['1'])).resolves.toBeUndefined();
  });

  it('fails with scancel’s message for other errors', async () => {
    const runner = new RecordingRunner({ scancel: recorded('scancel-other-user') });
    const error = await scheduler(runner)
      .cancel(['11'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).message).toMatch(/Access\/permission denied/);
  });

  it('fails when the controller is down: the job may still run', async () => {
    const runner = new RecordingRunner({ scancel: recorded('scancel-controller-down') });
    await expect(scheduler(runner).cancel(['7'])).rejects.toThrow(
      /scancel on testlab could not cancel: .*Unable to contact slurm controller/,
    );
  });

  it('refuses malformed ids before anything runs, and runs nothing for none', async () => {
    const runner = new RecordingRunner({ scancel: recorded('scancel-ok') });
    await expect(scheduler(runner).cancel(['12', '-u hpcjtest'])).rejects.toThrow(
      InvalidInputError,
    );
    await scheduler(runner).cancel([]);
    expect(runner.calls).toEqual([]);
  });
});

describe('SlurmScheduler.siteInfo', () => {
  it('asks sinfo and sacctmgr concurrently and combines their answers', async () => {
    let running = 0;
    let peak = 0;
    const answer = (name: string) => async (): Promise<RunResult> => {
      running += 1;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, 5));
      running -= 1;
      return recorded(name);
    };
    const runner = new RecordingRunner({
      sinfo: answer('sinfo'),
      sacctmgr: (argv) =>
        answer(argv.includes('associations') ? 'sacctmgr-assoc' : 'sacctmgr-user')(),
    });
    const site = await scheduler(runner).siteInfo();
    expect(peak).toBe(3);
    expect(runner.calls.map((c) => c.argv)).toEqual([
      sinfoArgv(),
      sacctmgrAssocArgv('hpcjtest'),
      sacctmgrUserArgv('hpcjtest'),
    ]);
    expect(site).toMatchObject({
      user: 'hpcjtest',
      accounts: ['research', 'teaching'],
      qos: ['debug', 'normal'],
      defaultAccount: 'research',
    });
    expect(site.partitions.map((p) => [p.name, p.isDefault, p.maxNodes])).toEqual([
      ['debug', true, 4],
      ['short', false, undefined],
    ]);
  });

  it('offers no accounts or QOS when the site has no accounting', async () => {
    const runner = new RecordingRunner({
      sinfo: recorded('sinfo'),
      sacctmgr: recorded('sacctmgr-accounting-disabled'),
    });
    const site = await scheduler(runner).siteInfo();
    expect(site.accounts).toEqual([]);
    expect(site.qos).toEqual([]);
    expect(site.defaultAccount).toBeUndefined();
    expect(site.partitions).toHaveLength(2);
  });

  it('fails when sinfo fails', async () => {
    const runner = new RecordingRunner({
      sinfo: recorded('sinfo-controller-down'),
      sacctmgr: recorded('sacctmgr-assoc'),
    });
    const error = await scheduler(runner)
      .siteInfo()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SchedulerError);
    expect((error as SchedulerError).message).toBe(
      'sinfo on testlab could not list partitions: slurm_load_partitions: Unable to contact slurm controller (connect failure)',
    );
  });
});

describe('SlurmScheduler.listJobs', () => {
  it("lists this user's live jobs whose name has the prefix, from one squeue", async () => {
    const runner = new RecordingRunner({ squeue: recorded('squeue-pending') });
    const jobs = await scheduler(runner).listJobs('hpcj-');
    expect(runner.commands()).toEqual(['squeue']);
    expect(jobs.map((j) => [j.id, j.name, j.state])).toEqual([
      ['13', 'hpcj-blocker', 'queued'],
      ['14', 'hpcj-behind', 'queued'],
      ['16', 'hpcj-dep', 'queued'],
      ['15', 'hpcj-held', 'queued'],
      ['12', 'hpcj-timeout2', 'starting'],
    ]);
  });

  it('throws rather than claim there are no jobs when squeue fails', async () => {
    const runner = new RecordingRunner({ squeue: recorded('squeue-controller-silent') });
    await expect(scheduler(runner).listJobs('hpcj-')).rejects.toThrow(/Socket timed out/);
  });
});
