import { describe, expect, it } from 'vitest';
import type { JobStatus } from '../schedulers/types.js';
import { applyConnection, applyJobStatus, changed } from './session-transitions.js';
import type { SessionConnection, SessionRecord } from './types.js';

const now = new Date('2024-05-01T12:00:00Z');
const connection: SessionConnection = {
  kind: 'jupyter',
  endpoints: [{ name: 'jupyter', host: 'node1', port: 8888, basePath: '/x/' }],
};
const base: SessionRecord = {
  id: 's000000000001',
  cluster: 'c',
  template: 'jupyter',
  params: {},
  title: 't',
  jobName: 'hpcj-s000000000001',
  jobId: '7',
  state: 'queued',
  createdAt: '2024-05-01T11:00:00Z',
  updatedAt: '2024-05-01T11:00:00Z',
};
const job = (state: JobStatus['state'], extra: Partial<JobStatus> = {}): JobStatus => ({
  id: '7',
  state,
  nativeState: state.toUpperCase(),
  ...extra,
});
const ctx = { now, stopRequested: false, recheck: false };

describe('applyJobStatus', () => {
  it('queued: keeps the pending reason and expected start', () => {
    const step = applyJobStatus(
      base,
      job('queued', { reason: 'Resources', expectedStart: now }),
      ctx,
    );
    expect(step.record).toMatchObject({
      state: 'queued',
      reason: 'Resources',
      expectedStart: now.toISOString(),
    });
    expect(step.readConnection).toBe(false);
  });

  it('running: starting, and asks for connection.json', () => {
    const step = applyJobStatus(base, job('starting', { nodes: ['node1'], startTime: now }), ctx);
    expect(step.record).toMatchObject({
      state: 'starting',
      nodes: ['node1'],
      startedAt: now.toISOString(),
    });
    expect(step.record.reason).toBeUndefined();
    expect(step.readConnection).toBe(true);
  });

  it('a ready session stays ready while its job runs, unless it must be rechecked', () => {
    const ready = { ...base, state: 'ready' as const, connection };
    expect(applyJobStatus(ready, job('starting'), ctx)).toMatchObject({
      record: { state: 'ready' },
      readConnection: false,
    });
    expect(applyJobStatus(ready, job('starting'), { ...ctx, recheck: true }).readConnection).toBe(
      true,
    );
  });

  it('unknown: never final, keeps what it knew (connection included)', () => {
    const ready = { ...base, state: 'ready' as const, connection };
    const step = applyJobStatus(ready, job('unknown', { reason: 'slurmctld timeout' }), ctx);
    expect(step.record).toMatchObject({
      state: 'unknown',
      reason: 'slurmctld timeout',
      connection,
    });
    expect(step.ended).toBe(false);
  });

  it('a stop that was asked for holds `stopping` until the job ends', () => {
    const stopping = { ...base, state: 'stopping' as const };
    const s = { ...ctx, stopRequested: true };
    expect(applyJobStatus(stopping, job('starting'), s).record.state).toBe('stopping');
    expect(applyJobStatus(stopping, job('queued'), s).record.state).toBe('stopping');
    const end = applyJobStatus(stopping, job('cancelled', { endTime: now }), s);
    expect(end.record).toMatchObject({ state: 'cancelled', endedAt: now.toISOString() });
    expect(end.ended).toBe(true);
  });

  it('final: end time, exit code and a reason', () => {
    const step = applyJobStatus(
      { ...base, state: 'starting' },
      job('failed', { exitCode: 3 }),
      ctx,
    );
    expect(step.record).toMatchObject({
      state: 'failed',
      exitCode: 3,
      reason: 'the job exited with code 3',
      endedAt: now.toISOString(),
    });
    expect(step.ended).toBe(true);
  });

  it('requeued after running: the old connection is gone', () => {
    const ready = { ...base, state: 'ready' as const, connection, readyAt: 'x' };
    const step = applyJobStatus(ready, job('queued'), ctx);
    expect(step.record.connection).toBeUndefined();
    expect(step.record.readyAt).toBeUndefined();
  });
});

describe('applyConnection', () => {
  const starting = { ...base, state: 'starting' as const };
  it('ready with the connection once the file is there', () => {
    expect(applyConnection(starting, { connection }, now)).toMatchObject({
      state: 'ready',
      connection,
      readyAt: now.toISOString(),
    });
  });
  it('still starting without it, with the reason when it is unusable', () => {
    expect(applyConnection(starting, undefined, now).state).toBe('starting');
    expect(applyConnection(starting, { problem: 'bad port' }, now)).toMatchObject({
      state: 'starting',
      reason: 'bad port',
    });
  });
  it('keeps readyAt when a recheck finds the same connection', () => {
    const ready = { ...base, state: 'ready' as const, connection, readyAt: '2024-01-01T00:00:00Z' };
    expect(applyConnection(ready, { connection }, now).readyAt).toBe('2024-01-01T00:00:00Z');
  });
});

describe('changed', () => {
  it('ignores updatedAt only', () => {
    expect(changed(base, { ...base, updatedAt: 'later' })).toBe(false);
    expect(changed(base, { ...base, reason: 'x' })).toBe(true);
  });
});
