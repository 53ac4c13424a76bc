import { describe, expect, it } from 'vitest';
import type { SessionRecord } from '@hpc-jupyter/core';
import {
  describeSession,
  describeWait,
  formatDuration,
  formatElapsed,
  isLive,
  isPending,
  timeLeftMs,
  walltimeEnd,
} from './session-format';

const T0 = Date.parse('2025-03-04T12:00:00Z');

function record(overrides: Partial<SessionRecord>): SessionRecord {
  return {
    id: 's000000000001',
    cluster: 'lab',
    template: 'jupyter',
    params: {},
    title: 'JupyterLab on lab (1 node, 1 h)',
    jobName: 'hpcj-s000000000001',
    state: 'queued',
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0).toISOString(),
    ...overrides,
  };
}

describe('session-format', () => {
  it('formats durations and elapsed times', () => {
    expect(formatDuration(30_000)).toBe('less than a minute');
    expect(formatDuration(42 * 60_000)).toBe('42 min');
    expect(formatDuration(125 * 60_000)).toBe('2 h 05 min');
    expect(formatElapsed(42_000)).toBe('0:42');
    expect(formatElapsed(3_723_000)).toBe('1:02:03');
    expect(formatElapsed(-5)).toBe('0:00');
  });

  it('knows which states are pending and live', () => {
    expect(isPending('queued')).toBe(true);
    expect(isPending('ready')).toBe(false);
    expect(isLive('unknown')).toBe(true);
    expect(isLive('stopping')).toBe(false);
    expect(isLive('failed')).toBe(false);
  });

  it('computes the walltime end and the time left of a running session only', () => {
    const running = record({
      state: 'ready',
      startedAt: new Date(T0).toISOString(),
      timeLimitMinutes: 60,
    });
    expect(walltimeEnd(running)).toBe(T0 + 3_600_000);
    expect(timeLeftMs(running, T0 + 600_000)).toBe(3_000_000);
    expect(timeLeftMs(running, T0 + 7_200_000)).toBe(0);
    expect(timeLeftMs(record({ state: 'queued' }), T0)).toBeUndefined();
    expect(timeLeftMs({ ...running, state: 'completed' }, T0)).toBeUndefined();
  });

  it('describes a queued session with its reason and expected start', () => {
    const queued = record({
      reason: 'Resources',
      expectedStart: new Date(T0 + 3 * 60_000).toISOString(),
    });
    const text = describeSession(queued, T0);
    expect(text).toMatch(/^queued \(Resources\), expected start \d\d:\d\d$/);
  });

  it('describes a ready session with its node and time left', () => {
    const ready = record({
      state: 'ready',
      nodes: ['node1'],
      startedAt: new Date(T0).toISOString(),
      timeLimitMinutes: 60,
      reason: 'ignored when ready',
    });
    expect(describeSession(ready, T0 + 8 * 60_000)).toBe('ready on node1, 52 min left');
    const many = { ...ready, nodes: ['node1', 'node2', 'node3', 'node4'] };
    expect(describeSession(many, T0)).toBe('ready on node1, node2 and 2 more, 1 h 00 min left');
  });

  it('describes an ended session with its reason and no time left', () => {
    expect(describeSession(record({ state: 'failed', reason: 'NonZeroExitCode' }), T0)).toBe(
      'failed (NonZeroExitCode)',
    );
  });

  it('adds the job and the time waited for a progress notification', () => {
    const queued = record({ jobId: '77', reason: 'Priority' });
    expect(describeWait(queued, T0 + 42_000)).toBe('Job 77: queued (Priority), 0:42 elapsed');
  });
});
