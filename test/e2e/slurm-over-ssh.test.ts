/**
 * The Slurm adapter over the SSH transport, as the test user, against the real 4-node cluster:
 * multi-node jobs, batched status, cancel, site info, final states with exit codes, and `unknown`
 * (never `completed`) while the controller is down.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import type { SshTransport } from '../../packages/core/src/transport/ssh.js';
import type { CommandRunner } from '../../packages/core/src/transport/types.js';
import type { SlurmScheduler } from '../../packages/core/src/schedulers/slurm.js';
import {
  clusterScript,
  programOf,
  waitLeftSqueue,
  RecordingRunner,
  slurmFor,
  sshTransportFor,
  testCluster,
  waitFinal,
  waitFor,
  type TestCluster,
} from './support.js';

let cluster: TestCluster;
let transport: SshTransport;
let home: string;

beforeAll(async () => {
  cluster = await testCluster();
  transport = sshTransportFor(cluster.testlab);
  home = (await transport.run(['printenv', 'HOME'])).stdout.trim();
  await transport.mkdir(`${home}/e2e`, { mode: 0o700 });
});

afterAll(async () => {
  // Whatever a failed test left behind must not hold the cluster for the next one.
  await slurmFor(transport).cancel([...submitted]);
  await transport.close();
});

const submitted = new Set<string>();

/** The Slurm adapter over the shared transport, remembering every job it submits. */
function slurmTracked(runner: CommandRunner = transport): SlurmScheduler {
  const slurm = slurmFor(runner);
  const submit = slurm.submit.bind(slurm);
  slurm.submit = async (...args) => {
    const id = await submit(...args);
    submitted.add(id);
    return id;
  };
  return slurm;
}

function jobName(what: string): string {
  return `hpcj-e2e-${what}-${randomBytes(3).toString('hex')}`;
}

const SCRIPT = (body: string): string => `#!/bin/bash\n${body}\n`;

describe('Slurm over SSH', () => {
  it('runs a 4-node job on node1..node4', async () => {
    const slurm = slurmTracked();
    const output = `${home}/e2e/four-nodes-${randomBytes(3).toString('hex')}.log`;
    const id = await slurm.submit({
      script: SCRIPT('srun hostname'),
      resources: {
        name: jobName('four'),
        nodes: 4,
        walltimeMinutes: 5,
        workdir: `${home}/e2e`,
        output,
      },
    });
    const final = await waitFinal(slurm, id);
    expect(final.state).toBe('completed');
    expect(final.exitCode).toBe(0);
    expect([...(final.nodes ?? [])].sort()).toEqual(['node1', 'node2', 'node3', 'node4']);
    const hosts = (await transport.readFile(output)).toString('utf8').trim().split('\n').sort();
    expect(hosts).toEqual(['node1', 'node2', 'node3', 'node4']);
  });

  it('answers the status of 20 jobs with one squeue call', async () => {
    const recorder = new RecordingRunner(transport);
    const slurm = slurmTracked(recorder);
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        slurm.submit({
          script: SCRIPT('sleep 30'),
          resources: {
            name: jobName(`batch${i}`),
            nodes: 1,
            walltimeMinutes: 2,
            workdir: `${home}/e2e`,
            output: '/dev/null',
          },
        }),
      ),
    );
    try {
      const before = recorder.calls.length;
      const statuses = await slurm.status(ids);
      const calls = recorder.calls.slice(before);
      const programs = calls.map(programOf);
      expect(programs.filter((p) => p === 'squeue')).toHaveLength(1);
      // Besides the one squeue, at most the accounting lookup and the once-per-adapter `id -un`.
      expect(programs.filter((p) => p !== 'squeue' && p !== 'sacct' && p !== 'id')).toEqual([]);
      expect([...statuses.keys()].sort()).toEqual([...ids].sort());
      for (const status of statuses.values()) {
        expect(['queued', 'starting']).toContain(status.state);
      }
      // 8 cores in the cluster, 20 one-core jobs: some wait, and say why. A job only
      // gets its reason at the scheduler's next pass, so allow a few seconds for it.
      const deadline = Date.now() + 15_000;
      let queued = [...statuses.values()].filter((s) => s.state === 'queued');
      while (queued.some((s) => (s.reason ?? '') === '') && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        queued = [...(await slurm.status(ids)).values()].filter((s) => s.state === 'queued');
      }
      expect(queued.length).toBeGreaterThan(0);
      expect(queued.filter((s) => (s.reason ?? '') === '')).toEqual([]);
    } finally {
      await slurm.cancel(ids);
    }
    for (const id of ids) {
      const final = await waitFinal(slurm, id);
      expect(final.state).toBe('cancelled');
    }
  });

  it('cancels a running job', async () => {
    const slurm = slurmTracked();
    const id = await slurm.submit({
      script: SCRIPT('sleep 300'),
      resources: {
        name: jobName('cancel'),
        nodes: 1,
        walltimeMinutes: 10,
        workdir: `${home}/e2e`,
        output: '/dev/null',
      },
    });
    await waitFor(slurm, id, (s) => s.state === 'starting');
    await slurm.cancel([id]);
    const final = await waitFinal(slurm, id, 30_000);
    expect(final.state).toBe('cancelled');
    // Cancelling a finished job again is not an error.
    await slurm.cancel([id]);
  });

  it("lists partitions and the test user's accounts", async () => {
    const info = await slurmFor(transport).siteInfo();
    const names = info.partitions.map((p) => p.name);
    expect(names).toContain('debug');
    const debug = info.partitions.find((p) => p.name === 'debug');
    expect(debug?.isDefault).toBe(true);
    expect(debug?.totalNodes).toBe(4);
    expect([...info.accounts].sort()).toEqual(['research', 'teaching']);
    expect(info.defaultAccount).toBe('research');
    expect(info.user).toBe(cluster.env.HPCJ_TEST_USER);
  });

  it('reports a finished job with its real final state and exit code', async () => {
    const slurm = slurmTracked();
    const failing = await slurm.submit({
      script: SCRIPT('exit 3'),
      resources: {
        name: jobName('exit3'),
        walltimeMinutes: 2,
        workdir: `${home}/e2e`,
        output: '/dev/null',
      },
    });
    const ok = await slurm.submit({
      script: SCRIPT('true'),
      resources: {
        name: jobName('exit0'),
        walltimeMinutes: 2,
        workdir: `${home}/e2e`,
        output: '/dev/null',
      },
    });
    const failed = await waitFinal(slurm, failing);
    expect(failed.state).toBe('failed');
    expect(failed.exitCode).toBe(3);
    const completed = await waitFinal(slurm, ok);
    expect(completed.state).toBe('completed');
    expect(completed.exitCode).toBe(0);
  });

  it('resolves a job that has left squeue through sacct', async () => {
    const slurm = slurmTracked();
    const id = await slurm.submit({
      script: SCRIPT('exit 7'),
      resources: {
        name: jobName('sacct'),
        walltimeMinutes: 2,
        workdir: `${home}/e2e`,
        output: '/dev/null',
      },
    });
    await waitFinal(slurm, id);
    // Wait until the controller has purged the record (MinJobAge, then its purge timer), as it
    // does for every finished job in production.
    await waitLeftSqueue(id, 150_000, 'it ended');
    const recorder = new RecordingRunner(transport);
    const status = (await slurmFor(recorder).status([id])).get(id);
    expect(recorder.count('sacct')).toBe(1);
    expect(status?.state).toBe('failed');
    expect(status?.exitCode).toBe(7);
  });

  it('reports unknown, never completed, while slurmctld is down, and recovers', async () => {
    const slurm = slurmTracked();
    const id = await slurm.submit({
      script: SCRIPT('sleep 120'),
      resources: {
        name: jobName('ctld'),
        walltimeMinutes: 5,
        workdir: `${home}/e2e`,
        output: '/dev/null',
      },
    });
    await waitFor(slurm, id, (s) => s.state === 'starting');
    await clusterScript('controller', 'stop');
    try {
      const status = (await slurm.status([id])).get(id);
      expect(status?.state).toBe('unknown');
      expect(status?.reason ?? '').not.toBe('');
    } finally {
      await clusterScript('controller', 'start');
    }
    const back = await waitFor(slurm, id, (s) => s.state !== 'unknown', 60_000);
    expect(back.state).toBe('starting');
    await slurm.cancel([id]);
    expect((await waitFinal(slurm, id)).state).toBe('cancelled');
  });
});
