import { describe, expect, it } from 'vitest';

import { PBS_STATE_MAP, finishedState, mapPbsState } from './states.js';

describe('PBS state table', () => {
  it('maps every letter either flavour prints, and nothing else', () => {
    expect(Object.keys(PBS_STATE_MAP).sort()).toEqual([
      'B',
      'C',
      'E',
      'F',
      'H',
      'M',
      'Q',
      'R',
      'S',
      'T',
      'U',
      'W',
      'X',
    ]);
    expect(mapPbsState('R')).toBe('starting');
    expect(mapPbsState(' h ')).toBe('queued');
    expect(mapPbsState('E')).toBe('stopping');
    expect(mapPbsState('M')).toBe('unknown');
    expect(mapPbsState('Z')).toBe('unknown');
    expect(mapPbsState('')).toBe('unknown');
  });

  it('refines a finished job from its exit status, per flavour', () => {
    expect(finishedState(0, undefined, 'pbspro')).toEqual({ state: 'completed', exitCode: 0 });
    expect(finishedState(3, undefined, 'torque')).toEqual({ state: 'failed', exitCode: 3 });
    expect(finishedState(-29, undefined, 'pbspro')).toEqual({ state: 'timed-out' });
    expect(finishedState(-11, undefined, 'torque')).toEqual({ state: 'timed-out' });
    // -11 is JOB_EXEC_RERUN-class in PBS Pro, not a walltime kill.
    expect(finishedState(-11, undefined, 'pbspro')).toEqual({ state: 'failed' });
    expect(finishedState(271, 'terminated by qdel', 'pbspro')).toEqual({
      state: 'cancelled',
      exitSignal: 15,
    });
    expect(finishedState(265, undefined, 'torque')).toEqual({ state: 'failed', exitSignal: 9 });
    expect(
      finishedState(271, 'PBS: job killed: walltime 3610 exceeded limit 3600', 'torque'),
    ).toEqual({ state: 'timed-out', exitSignal: 15 });
  });

  it('never calls a finished job without an exit status completed', () => {
    expect(finishedState(undefined, 'Job deleted by hpcjtest', 'pbspro').state).toBe('cancelled');
    expect(finishedState(undefined, undefined, 'pbspro').state).toBe('unknown');
  });
});
