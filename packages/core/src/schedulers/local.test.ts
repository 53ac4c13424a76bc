import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import { LocalScheduler, type LocalSchedulerOptions } from './local.js';
import { groupAlive, linuxProc, type ProcReader } from './local-proc.js';
import { isFinal, type JobStatus, type ResourceRequest } from './types.js';

let root: string;
let stateDir: string;
let workdir: string;
const schedulers: LocalScheduler[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-localsched-'));
  stateDir = path.join(root, 'state');
  workdir = path.join(root, 'work');
  await import('node:fs/promises').then((fs) => fs.mkdir(workdir));
});

afterEach(async () => {
  // Stop whatever a failed test left running before its directory goes away.
  const scheduler = make();
  const live = (await scheduler.listJobs('')).map((s) => s.id);
  await scheduler.cancel(live);
  await Promise.all(live.map((id) => waitFor(scheduler, id, (s) => isFinal(s.state))));
  schedulers.length = 0;
  await rm(root, { recursive: true, force: true });
});

function make(options: LocalSchedulerOptions = {}): LocalScheduler {
  const scheduler = new LocalScheduler({ stateDir, killGraceSeconds: 1, ...options });
  schedulers.push(scheduler);
  return scheduler;
}

function job(script: string, resources: Partial<ResourceRequest> = {}) {
  return {
    script: `#!/bin/sh\n${script}\n`,
    resources: { name: 'hpcj-test', workdir, ...resources },
  };
}

async function waitFor(
  scheduler: LocalScheduler,
  id: string,
  done: (s: JobStatus) => boolean,
  ms = 15_000,
): Promise<JobStatus> {
  const deadline = Date.now() + ms;
  for (;;) {
    const status = (await scheduler.status([id])).get(id);
    if (status !== undefined && done(status)) return status;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck at ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const ended = (s: JobStatus) => isFinal(s.state);
const running = (s: JobStatus) => s.state === 'starting';

describe('LocalScheduler', () => {
  it('runs a script to completion with its output, environment and workdir', async () => {
    const scheduler = make();
    const id = await scheduler.submit(
      job(
        'echo "hello $HPC_JUPYTER_JOB_ID $HPC_JUPYTER_SCHEDULER $HPC_JUPYTER_NODES"; pwd; ' +
          'echo "end=${HPC_JUPYTER_WALLTIME_END:-none}"; echo oops >&2',
        { walltimeMinutes: 5 },
      ),
    );
    expect(id).toMatch(/^[1-9][0-9]*$/);
    const status = await waitFor(scheduler, id, ended);
    expect(status).toMatchObject({
      id,
      state: 'completed',
      nativeState: 'COMPLETED',
      name: 'hpcj-test',
      exitCode: 0,
      nodes: [os.hostname()],
      timeLimitMinutes: 5,
    });
    expect(status.startTime).toBeInstanceOf(Date);
    expect(status.endTime?.getTime()).toBeGreaterThanOrEqual(status.startTime?.getTime() ?? 0);
    const output = await readFile(path.join(stateDir, id, 'output'), 'utf8');
    const lines = output.split('\n');
    expect(lines[0]).toBe(`hello ${id} local ${os.hostname()}`);
    expect(lines[1]).toBe(workdir);
    const end = Number(lines[2]?.slice('end='.length));
    expect(Math.abs(end - (Date.now() / 1000 + 300))).toBeLessThan(30);
    expect(lines[3]).toBe('oops');
  });

  it('keeps the job directory and script private', async () => {
    const scheduler = make();
    const id = await scheduler.submit(job('exit 0'));
    await waitFor(scheduler, id, ended);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(stateDir, id))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(stateDir, id, 'script'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(stateDir, id, 'job.json'))).mode & 0o777).toBe(0o600);
  });

  it('writes output to resources.output when given', async () => {
    const scheduler = make();
    const output = path.join(workdir, 'job.log');
    const id = await scheduler.submit(job('echo to-file', { output }));
    await waitFor(scheduler, id, ended);
    expect(await readFile(output, 'utf8')).toBe('to-file\n');
  });

  it('reports a non-zero exit as failed with the code', async () => {
    const scheduler = make();
    const id = await scheduler.submit(job('exit 3'));
    const status = await waitFor(scheduler, id, ended);
    expect(status).toMatchObject({ state: 'failed', nativeState: 'FAILED', exitCode: 3 });
    expect(status.reason).toBe('exit code 3');
  });

  it('reports a script that cannot start as failed', async () => {
    const scheduler = make();
    const id = await scheduler.submit({
      script: '#!/nonexistent/interpreter\n',
      resources: { name: 'hpcj-bad', workdir },
    });
    const status = await waitFor(scheduler, id, ended);
    expect(status.state).toBe('failed');
    expect(status.reason).toContain('could not start');
  });

  it('cancels a running job and leaves nothing of its process group', async () => {
    const scheduler = make();
    const id = await scheduler.submit(job('sleep 60 & sleep 60; wait'));
    await waitFor(scheduler, id, running);
    const started = (await scheduler.store.snapshot(id)).started;
    expect(started?.pgid).toBe(started?.pid);
    const pgid = started?.pgid ?? 0;
    expect(await groupAlive(pgid)).toBe(true);

    await scheduler.cancel([id]);
    const afterCancel = (await scheduler.status([id])).get(id);
    expect(['stopping', 'cancelled']).toContain(afterCancel?.state);
    const status = await waitFor(scheduler, id, ended);
    expect(status).toMatchObject({ state: 'cancelled', nativeState: 'CANCELLED' });
    expect(await groupAlive(pgid)).toBe(false);
    expect(() => process.kill(pgid, 0)).toThrow(); // the leader is gone (reaped), not a zombie

    await scheduler.cancel([id]); // idempotent
    expect((await scheduler.status([id])).get(id)?.state).toBe('cancelled');
  });

  it('ends a job at its walltime as timed-out, even one that ignores SIGTERM', async () => {
    const scheduler = make({ secondsPerWalltimeMinute: 1 });
    const polite = await scheduler.submit(job('sleep 60', { walltimeMinutes: 1 }));
    const stubborn = await scheduler.submit(
      job("trap '' TERM; while :; do sleep 0.2; done", { walltimeMinutes: 1 }),
    );
    const started = Date.now();
    const [a, b] = await Promise.all([
      waitFor(scheduler, polite, ended),
      waitFor(scheduler, stubborn, ended),
    ]);
    expect(a).toMatchObject({ state: 'timed-out', nativeState: 'TIMEOUT' });
    expect(b).toMatchObject({ state: 'timed-out', exitSignal: 9 });
    // 1 s walltime, 1 s grace before SIGKILL, plus process start-up.
    expect(Date.now() - started).toBeLessThan(8000);
    for (const id of [polite, stubborn]) {
      const pgid = (await scheduler.store.snapshot(id)).started?.pgid ?? 0;
      expect(await groupAlive(pgid)).toBe(false);
    }
  });

  it('answers status for 20 jobs from files, without probing finished ones', async () => {
    let stats = 0;
    let boots = 0;
    const counting: ProcReader = {
      stat: (pid) => {
        stats += 1;
        return linuxProc.stat(pid);
      },
      bootId: () => {
        boots += 1;
        return linuxProc.bootId();
      },
    };
    const scheduler = make({ proc: counting });
    const ids = await Promise.all(
      Array.from({ length: 20 }, () => scheduler.submit(job('exit 0'))),
    );
    expect(new Set(ids).size).toBe(20);
    await Promise.all(ids.map((id) => waitFor(scheduler, id, ended)));

    stats = 0;
    boots = 0;
    const all = await scheduler.status([...ids, '999999', '../etc', 'abc']);
    expect(all.size).toBe(23);
    expect(ids.every((id) => all.get(id)?.state === 'completed')).toBe(true);
    expect(all.get('999999')).toMatchObject({ state: 'unknown', reason: 'no such job' });
    expect(all.get('../etc')?.state).toBe('unknown');
    expect(stats).toBe(0);
    expect(boots).toBe(1);
  });

  it('allocates increasing, unique ids across instances', async () => {
    const a = make();
    const b = make();
    const ids = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? a : b).submit(job('exit 0'))),
    );
    expect(new Set(ids).size).toBe(10);
    const sorted = ids.map(Number).sort((x, y) => x - y);
    expect(sorted).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    const next = await a.submit(job('exit 0'));
    expect(Number(next)).toBe(11);
  });

  it('lets a new instance (an agent restart) see and cancel the same jobs', async () => {
    const first = make();
    const done = await first.submit(job('exit 0', { name: 'hpcj-done' }));
    const live = await first.submit(job('sleep 60', { name: 'hpcj-live' }));
    await waitFor(first, done, ended);
    await waitFor(first, live, running);

    const second = make();
    const statuses = await second.status([done, live]);
    expect(statuses.get(done)?.state).toBe('completed');
    expect(statuses.get(live)?.state).toBe('starting');
    expect((await second.listJobs('hpcj-')).map((s) => s.id)).toEqual([live]);
    expect(await second.listJobs('other-')).toEqual([]);
    await second.cancel([live]);
    expect((await waitFor(second, live, ended)).state).toBe('cancelled');
  });

  it('reports a job whose supervisor vanished as failed, and can still stop its orphan', async () => {
    const scheduler = make();
    const orphan = await scheduler.submit(job('sleep 60'));
    const lost = await scheduler.submit(job('sleep 60'));
    await waitFor(scheduler, orphan, running);
    await waitFor(scheduler, lost, running);
    const o = await scheduler.store.snapshot(orphan);
    const l = await scheduler.store.snapshot(lost);
    process.kill(o.supervisor?.pid ?? 0, 'SIGKILL');
    process.kill(l.supervisor?.pid ?? 0, 'SIGKILL');
    process.kill(-(l.started?.pgid ?? 0), 'SIGKILL');

    const s = await waitFor(scheduler, lost, ended);
    expect(s).toMatchObject({ state: 'failed', nativeState: 'LOST' });
    expect(s.reason).toContain('supervisor ended without recording');

    const o1 = await waitFor(scheduler, orphan, (x) => x.reason !== undefined);
    expect(o1.state).toBe('starting');
    expect(o1.reason).toContain('supervisor is gone');
    await scheduler.cancel([orphan]);
    expect((await scheduler.status([orphan])).get(orphan)?.state).toBe('cancelled');
    expect(await groupAlive(o.started?.pgid ?? 0)).toBe(false);
  });

  it('does not mistake a reused pid for the job', async () => {
    const scheduler = make();
    const id = await scheduler.submit(job('sleep 60'));
    await waitFor(scheduler, id, running);
    const snap = await scheduler.store.snapshot(id);
    const realTicks = (await linuxProc.stat(process.pid))?.startTicks ?? 0;
    process.kill(snap.supervisor?.pid ?? 0, 'SIGKILL');
    process.kill(-(snap.started?.pgid ?? 0), 'SIGKILL');
    await waitFor(scheduler, id, ended);

    // Now say the job's pid is one that runs (this test process) but started at another time.
    const started = { ...snap.started, pid: process.pid, startTicks: realTicks + 1 };
    await scheduler.store.writeJobJson(id, 'started.json', started);
    expect((await scheduler.status([id])).get(id)?.state).toBe('failed');
    // The same pid with its true start time counts as alive: the guard is the start time.
    await scheduler.store.writeJobJson(id, 'started.json', { ...started, startTicks: realTicks });
    expect((await scheduler.status([id])).get(id)?.state).toBe('starting');
    // A different boot id means another boot: not alive, whatever the pid.
    await scheduler.store.writeJobJson(id, 'started.json', {
      ...started,
      startTicks: realTicks,
      bootId: 'another-boot',
    });
    expect((await scheduler.status([id])).get(id)?.state).toBe('failed');
  });

  it('refuses what this machine cannot do, before creating anything', async () => {
    const scheduler = make();
    await expect(scheduler.submit(job('true', { nodes: 2 }))).rejects.toThrow(
      /nodes 2 is not possible on the local scheduler/,
    );
    await expect(scheduler.submit(job('true', { partition: 'gpu' }))).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(scheduler.submit(job('true', { walltimeMinutes: 0 }))).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(scheduler.submit(job('true', { name: 'bad;name' }))).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    await expect(
      scheduler.submit(job('true', { workdir: path.join(root, 'missing') })),
    ).rejects.toThrow(/not an existing directory/);
    await expect(
      scheduler.submit({ script: 'echo no shebang', resources: { name: 'hpcj-x' } }),
    ).rejects.toThrow(/#!/);
    expect(await scheduler.store.listIds()).toEqual([]);
    const ok = await scheduler.submit(job('true', { nodes: 1, partition: 'local' }));
    expect((await waitFor(scheduler, ok, ended)).state).toBe('completed');
  });

  it('describes this machine as one partition', async () => {
    const info = await make().siteInfo();
    expect(info.partitions).toEqual([
      {
        name: 'local',
        isDefault: true,
        available: true,
        totalNodes: 1,
        cpusPerNode: os.availableParallelism(),
        memoryMiBPerNode: Math.floor(os.totalmem() / 2 ** 20),
        maxNodes: 1,
      },
    ]);
    expect(info.accounts).toEqual([]);
    expect(info.qos).toEqual([]);
    expect(info.user).toBe(os.userInfo().username);
  });

  it('honours an aborted signal', async () => {
    const scheduler = make();
    const signal = AbortSignal.abort();
    await expect(scheduler.submit(job('true'), { signal })).rejects.toThrow(/cancelled/);
    await expect(scheduler.status(['1'], { signal })).rejects.toThrow(/cancelled/);
  });
});
