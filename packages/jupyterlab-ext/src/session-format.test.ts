import { describe, expect, it } from 'vitest';
import { cardActions, cardLines, chipTone, formatDuration } from './session-format.js';
import { session } from './fixtures.testutil.js';

const T0 = Date.parse('2026-01-01T10:00:00.000Z');

describe('session cards', () => {
  it('formats durations compactly', () => {
    expect(formatDuration(12_300)).toBe('12s');
    expect(formatDuration(250_000)).toBe('4m 10s');
    expect(formatDuration(3_900_000)).toBe('1h 05m');
    expect(formatDuration(-5)).toBe('0s');
  });

  it('shows the queue reason and expected start while queued', () => {
    const lines = cardLines(
      session({ reason: 'Priority', expectedStart: '2026-01-01T11:00:00.000Z' }),
      T0,
    );
    expect(lines.waiting).toMatch(/^Priority, expected start /);
    expect(lines.time).toBeUndefined();
    expect(chipTone('queued')).toBe('pending');
  });

  it('shows elapsed and remaining walltime and the nodes while running', () => {
    const s = session({
      state: 'ready',
      startedAt: '2026-01-01T10:00:00.000Z',
      timeLimitMinutes: 60,
      nodes: ['node1', 'node2'],
      connection: { kind: 'jupyter', endpoints: [{ name: 'jupyter', host: 'node1', port: 1 }] },
    });
    const lines = cardLines(s, T0 + 250_000);
    expect(lines.time).toBe('elapsed 4m 10s, 55m 50s left');
    expect(lines.nodes).toBe('2 nodes: node1, node2');
    expect(cardActions({ ...s, jobId: '7' })).toEqual({
      open: true,
      dashboards: [],
      insertClient: false,
      copy: 'url',
      scale: false,
      logs: true,
      stop: true,
      relaunch: false,
    });
  });

  it('offers relaunch, not stop, once ended, and says why it failed', () => {
    const s = session({
      state: 'failed',
      reason: 'NonZeroExitCode',
      jobId: '7',
      startedAt: '2026-01-01T10:00:00.000Z',
      endedAt: '2026-01-01T10:01:00.000Z',
    });
    expect(cardLines(s, T0).problem).toBe('NonZeroExitCode');
    expect(cardLines(s, T0).time).toBe('ran 1m 00s');
    expect(cardActions(s)).toEqual({
      open: false,
      dashboards: [],
      insertClient: false,
      scale: false,
      logs: true,
      stop: false,
      relaunch: true,
    });
    expect(chipTone('failed')).toBe('bad');
  });
});
