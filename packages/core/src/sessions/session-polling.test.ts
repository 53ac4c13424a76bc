/**
 * Polling, errors and odd states, against a scheduler fake (the states a real one will not
 * produce on demand) with the real LocalTransport for the session files.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionLostError, SchedulerError, SessionError, TimeoutError } from '../errors.js';
import { LocalTransport } from '../transport/local.js';
import { SessionManager } from './session-manager.js';
import type { PollReport } from './status-poller.js';
import {
  clusterConfig,
  clusterSource,
  eventually,
  FakeScheduler,
  scriptRenderer,
} from './test-kit.js';
import type { AgentEvent, SessionRecord } from './types.js';

let root: string;
let scheduler: FakeScheduler;
let transport: LocalTransport;
let reports: PollReport[];
/** Status calls made so far, at each report. */
let callsAt: number[];
let manager: SessionManager;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-polling-'));
  scheduler = new FakeScheduler();
  transport = new LocalTransport();
  reports = [];
  callsAt = [];
  manager = await SessionManager.open({
    clusters: clusterSource({
      hpc: {
        config: clusterConfig('hpc', path.join(root, 'work'), scheduler),
        transport,
        scheduler,
      },
    }),
    renderer: scriptRenderer([
      { name: 'jupyter', title: 'JupyterLab', kind: 'server', body: 'true', walltimeMinutes: 90 },
    ]),
    stateDir: path.join(root, 'state'),
    intervals: { busyMs: 20, steadyMs: 100, jitter: 0, errorMs: 20, maxBackoffMs: 160 },
    onPoll: (r) => {
      reports.push(r);
      callsAt.push(scheduler.statusCalls.length);
    },
  });
});

afterEach(async () => {
  await manager.close();
  await transport.close();
  await rm(root, { recursive: true, force: true });
});

const start = (): Promise<SessionRecord> => manager.start({ cluster: 'hpc', template: 'jupyter' });

async function makeReady(s: SessionRecord): Promise<SessionRecord> {
  scheduler.set(s.jobId as string, 'starting', {
    name: s.jobName,
    reason: undefined,
    nodes: ['n1'],
  });
  await writeFile(
    path.join(s.sessionDir as string, 'connection.json'),
    JSON.stringify({ kind: 'jupyter', host: 'n1', port: 8888, baseUrl: '/' }),
  );
  return manager.waitFor(s.id, (r) => r.state === 'ready', { timeout: 5_000 });
}

describe('status polling', () => {
  it('asks about all live sessions of a cluster in one status call per tick', async () => {
    const sessions = await Promise.all(Array.from({ length: 50 }, start));
    const ids = new Set(sessions.map((s) => s.jobId));
    expect(ids.size).toBe(50);
    const from = reports.length;
    await eventually(() => reports.length >= from + 5);
    for (const call of scheduler.statusCalls.slice(-3)) expect(new Set(call)).toEqual(ids);
    // One status call per tick, whatever the number of sessions.
    const perTick = callsAt.map((n, i) => n - (callsAt[i - 1] ?? 0));
    expect(Math.max(...perTick)).toBe(1);
    expect(scheduler.statusCalls.length).toBeLessThan(50);
  });

  it('polls fast while something is in transition and slowly once all are ready', async () => {
    const s = await start();
    await eventually(() => reports.length > 0);
    expect(reports.at(-1)?.nextDelayMs).toBe(20);
    await makeReady(s);
    await eventually(() => reports.at(-1)?.outcome === 'steady');
    expect(reports.at(-1)?.nextDelayMs).toBe(100);
  });

  it('stops polling a cluster with no live sessions', async () => {
    const s = await start();
    scheduler.set(s.jobId as string, 'completed', { name: s.jobName, exitCode: 0 });
    await manager.waitFor(s.id, (r) => r.state === 'completed', { timeout: 5_000 });
    await eventually(() => reports.at(-1)?.outcome === 'idle');
    const calls = scheduler.statusCalls.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(scheduler.statusCalls.length).toBe(calls);
  });

  it('backs off while the scheduler fails: sessions go unknown, never cancelled, and come back', async () => {
    const s = await start();
    const ready = await makeReady(s);
    expect(ready.connection).toBeDefined();
    const clusterEvents: AgentEvent[] = [];
    manager.onEvent((e) => {
      if (e.type === 'cluster') clusterEvents.push(e);
    });
    scheduler.failStatus = new SchedulerError('squeue: slurm_load_jobs error: timeout', 'slurm');
    await eventually(() => reports.filter((r) => r.outcome === 'error').length >= 5, 5_000);
    const errors = reports.filter((r) => r.outcome === 'error').slice(0, 5);
    expect(errors.map((r) => r.nextDelayMs)).toEqual([20, 40, 80, 160, 160]);
    // Unknown, not ended: what it knew (its connection) is kept for when the answer comes back.
    expect(manager.get(s.id)).toMatchObject({ state: 'unknown', connection: ready.connection });
    expect(manager.get(s.id)?.reason).toContain('slurm_load_jobs error');
    expect(scheduler.cancelled).toEqual([]);

    scheduler.failStatus = undefined;
    const back = await manager.waitFor(s.id, (r) => r.state === 'ready', { timeout: 5_000 });
    expect(back.reason).toBeUndefined();
    await eventually(() => clusterEvents.length === 2);
    expect(clusterEvents).toEqual([
      {
        type: 'cluster',
        cluster: 'hpc',
        reachable: false,
        error: 'squeue: slurm_load_jobs error: timeout',
      },
      { type: 'cluster', cluster: 'hpc', reachable: true },
    ]);
  });

  it('a job the scheduler reports as unknown stays, is polled on, and recovers', async () => {
    const s = await start();
    await makeReady(s);
    scheduler.set(s.jobId as string, 'unknown', { reason: 'sacct: no answer' });
    const unknown = await manager.waitFor(s.id, (r) => r.state === 'unknown', { timeout: 5_000 });
    expect(unknown.reason).toBe('sacct: no answer');
    const calls = scheduler.statusCalls.length;
    await eventually(() => scheduler.statusCalls.length > calls + 1);
    expect(scheduler.statusCalls.at(-1)).toEqual([s.jobId]);
    expect(scheduler.cancelled).toEqual([]);
    scheduler.set(s.jobId as string, 'starting', { reason: undefined });
    await manager.waitFor(s.id, (r) => r.state === 'ready', { timeout: 5_000 });
  });

  it('close() stops polling and cancels nothing', async () => {
    await start();
    await eventually(() => reports.length > 0);
    await manager.close();
    const calls = scheduler.statusCalls.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(scheduler.statusCalls.length).toBe(calls);
    expect(scheduler.cancelled).toEqual([]);
  });
  it('sees connection.json between polls while a job starts, without asking the scheduler more', async () => {
    const s = await start();
    scheduler.set(s.jobId as string, 'starting', { name: s.jobName, nodes: ['n1'] });
    await manager.waitFor(s.id, (r) => r.state === 'starting', { timeout: 5_000 });
    await manager.close();
    // Polls far apart: only the connection watch can make the session ready in time. Opening
    // the store polls once at once, which finds the job started and the file not yet there.
    manager = await SessionManager.open({
      clusters: clusterSource({
        hpc: {
          config: clusterConfig('hpc', path.join(root, 'work'), scheduler),
          transport,
          scheduler,
        },
      }),
      renderer: scriptRenderer([
        { name: 'jupyter', title: 'JupyterLab', kind: 'server', body: 'true', walltimeMinutes: 90 },
      ]),
      stateDir: path.join(root, 'state'),
      intervals: { busyMs: 60_000, steadyMs: 60_000, jitter: 0, errorMs: 60_000 },
    });
    const calls = scheduler.statusCalls.length;
    await eventually(() => scheduler.statusCalls.length > calls);
    await new Promise((r) => setTimeout(r, 300));
    const written = Date.now();
    await writeFile(
      path.join(s.sessionDir as string, 'connection.json'),
      JSON.stringify({ kind: 'jupyter', host: 'n1', port: 8888, baseUrl: '/' }),
    );
    const ready = await manager.waitFor(s.id, (r) => r.state === 'ready', { timeout: 2_000 });
    expect(Date.now() - written).toBeLessThan(1_500);
    expect(ready.connection).toBeDefined();
    expect(scheduler.statusCalls.length).toBe(calls + 1);
  });
});

describe('starting', () => {
  it('records a failed submit as a failed session and throws with context', async () => {
    scheduler.failSubmit = new SchedulerError('sbatch: error: invalid partition', 'slurm');
    const error = await start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionError);
    expect((error as SessionError).message).toMatch(/jupyter on hpc.*invalid partition/);
    const record = manager.list()[0];
    expect(record).toMatchObject({ state: 'failed', reason: 'sbatch: error: invalid partition' });
  });

  it('does not need site info to start', async () => {
    scheduler.failSiteInfo = true;
    const s = await start();
    expect(s.state).toBe('queued');
    expect(s.timeLimitMinutes).toBe(90);
    expect(s.title).toBe('JupyterLab on hpc (1 node, 1.5 h)');
  });

  it('after a submit that may or may not have happened, finds the job by its name', async () => {
    const submit = scheduler.submit.bind(scheduler);
    scheduler.submit = async (request) => {
      await submit(request);
      throw new ConnectionLostError('connection reset', 'login');
    };
    const error = await start().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionError);
    const id = (error as SessionError).sessionId;
    const found = await manager.waitFor(id, (r) => r.jobId !== undefined, { timeout: 5_000 });
    expect(found.jobId).toBe('1000');
    expect(found.state).toBe('queued');
  });

  it('after a timed-out submit with no job behind it, fails the session', async () => {
    scheduler.failSubmit = new TimeoutError('sbatch did not answer');
    const error = (await start().catch((e: unknown) => e)) as SessionError;
    expect(manager.get(error.sessionId)?.state).toBe('submitting');
    const ended = await manager
      .waitFor(error.sessionId, () => false, { timeout: 5_000 })
      .catch((e: unknown) => e);
    expect(ended).toBeInstanceOf(SessionError);
    expect(manager.get(error.sessionId)?.state).toBe('failed');
  });
});

describe('discovered sessions', () => {
  it('finds jobs of any hpcj- name, stops and removes them', async () => {
    scheduler.set('555', 'starting', { name: 'hpcj-by-hand', nodes: ['n3'] });
    scheduler.set('556', 'queued', { name: 'someone-else' });
    const found = await manager.discover('hpc');
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({
      id: 'd555',
      discovered: true,
      jobId: '555',
      jobName: 'hpcj-by-hand',
      state: 'starting',
      nodes: ['n3'],
    });
    expect(found[0]?.sessionDir).toBeUndefined();
    const stopping = await manager.stop('d555');
    expect(stopping.state).toBe('stopping');
    expect(scheduler.cancelled).toEqual(['555']);
    await manager.waitFor('d555', (r) => r.state === 'cancelled', { timeout: 5_000 });
    await manager.remove('d555');
    expect(manager.list()).toEqual([]);
  });

  it('refuses to remove a live session of its own', async () => {
    const s = await start();
    await expect(manager.remove(s.id)).rejects.toThrow(/Stop it first|only ended/);
  });
});
