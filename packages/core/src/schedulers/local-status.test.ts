import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseProcStat } from './local-proc.js';
import { LOCAL_STATE_MAP, localJobStatus, SUBMIT_GRACE_MS } from './local-status.js';
import type { JobRecord, JobSnapshot } from './local-store.js';
import { SUPERVISOR_SOURCE } from './local-supervisor.js';

const NOW = Date.parse('2030-01-01T12:00:00Z');
const JOB: JobRecord = {
  id: '7',
  name: 'hpcj-x',
  resources: { name: 'hpcj-x', walltimeMinutes: 30 },
  submitTime: new Date(NOW - 10_000).toISOString(),
  workdir: '/tmp',
  output: '/tmp/out',
  walltimeSeconds: 1800,
  killGraceSeconds: 10,
};
const SUPERVISOR = { pid: 100, startTicks: 5 };
const STARTED = {
  pid: 101,
  pgid: 101,
  startTicks: 6,
  startTime: new Date(NOW - 5_000).toISOString(),
  hostname: 'h',
};
const DEAD = { supervisor: false, job: false };
const ALIVE = { supervisor: true, job: true };

function status(snap: Partial<JobSnapshot>, alive = DEAD, now = NOW) {
  return localJobStatus({ id: '7', ...snap }, alive, 'host1', now);
}

describe('localJobStatus', () => {
  it('maps every native state onto a session state', () => {
    expect(LOCAL_STATE_MAP).toMatchObject({
      PENDING: 'queued',
      RUNNING: 'starting',
      CANCELLING: 'stopping',
      COMPLETED: 'completed',
      FAILED: 'failed',
      CANCELLED: 'cancelled',
      TIMEOUT: 'timed-out',
      LOST: 'failed',
    });
  });

  it('says unknown for a directory without a job record', () => {
    expect(status({})).toEqual({
      id: '7',
      state: 'unknown',
      nativeState: 'UNKNOWN',
      reason: 'no such job',
    });
  });

  it('is queued while the supervisor runs and the script has not started', () => {
    const s = status({ job: JOB, supervisor: SUPERVISOR }, { supervisor: true, job: false });
    expect(s).toMatchObject({ state: 'queued', nativeState: 'PENDING', timeLimitMinutes: 30 });
    expect(s.nodes).toBeUndefined();
  });

  it('is queued while the submission is recent, lost after the grace', () => {
    expect(status({ job: JOB }).state).toBe('queued');
    const late = status({ job: JOB }, DEAD, NOW + SUBMIT_GRACE_MS);
    expect(late).toMatchObject({ state: 'failed', nativeState: 'LOST' });
  });

  it('is starting while the script runs, stopping once cancel was asked', () => {
    const s = status({ job: JOB, supervisor: SUPERVISOR, started: STARTED }, ALIVE);
    expect(s).toMatchObject({ state: 'starting', nativeState: 'RUNNING', nodes: ['host1'] });
    expect(s.startTime?.toISOString()).toBe(STARTED.startTime);
    const c = status(
      { job: JOB, supervisor: SUPERVISOR, started: STARTED, cancel: { time: 'x' } },
      ALIVE,
    );
    expect(c.state).toBe('stopping');
  });

  it('takes the final state from exit.json, with code and signal number', () => {
    const exit = {
      state: 'timed-out' as const,
      code: null,
      signal: 'SIGKILL',
      endTime: new Date(NOW).toISOString(),
      reason: 'walltime of 1800 s reached',
    };
    const s = status({ job: JOB, supervisor: SUPERVISOR, started: STARTED, exit }, ALIVE);
    expect(s).toMatchObject({
      state: 'timed-out',
      nativeState: 'TIMEOUT',
      exitSignal: 9,
      reason: 'walltime of 1800 s reached',
    });
    expect(s.exitCode).toBeUndefined();
    expect(s.endTime?.getTime()).toBe(NOW);
  });

  it('is failed (LOST) when the supervisor died without an exit record', () => {
    const s = status({ job: JOB, supervisor: SUPERVISOR, started: STARTED });
    expect(s).toMatchObject({ state: 'failed', nativeState: 'LOST' });
    expect(s.reason).toContain('supervisor ended without recording');
  });

  it('keeps reporting a job that outlived its supervisor as running', () => {
    const s = status(
      { job: JOB, supervisor: SUPERVISOR, started: STARTED },
      { supervisor: false, job: true },
    );
    expect(s.state).toBe('starting');
    expect(s.reason).toContain('walltime is no longer enforced');
  });

  it('is cancelled when cancel was asked and nothing is left', () => {
    expect(status({ job: JOB, cancel: { time: 'x' } }).state).toBe('cancelled');
    expect(
      status({ job: JOB, supervisor: SUPERVISOR, started: STARTED, cancel: { time: 'x' } }).state,
    ).toBe('cancelled');
  });
});

describe('parseProcStat', () => {
  it('reads state, process group and start time, whatever the command name', () => {
    const line =
      '4242 (my (odd) cmd) S 1 4240 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10';
    expect(parseProcStat(line)).toEqual({ state: 'S', pgrp: 4240, startTicks: 987654 });
    expect(parseProcStat('garbage')).toBeUndefined();
  });
});

describe('the supervisor program', () => {
  it('is valid JavaScript for this Node', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-sup-'));
    try {
      const file = path.join(dir, 'supervisor.mjs');
      await writeFile(file, SUPERVISOR_SOURCE);
      expect(() => execFileSync(process.execPath, ['--check', file])).not.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
