import { describe, expect, it } from 'vitest';

import {
  SLURM_STATE_MAP,
  isPausedSlurmState,
  mapSlurmState,
  normalizeSlurmState,
} from './slurm-states.js';
import { FINAL_STATES, isFinal, type JobState } from './types.js';

const JOB_STATES: readonly JobState[] = [
  'queued',
  'starting',
  'stopping',
  'completed',
  'failed',
  'cancelled',
  'timed-out',
  'unknown',
];

/** Every state of the JOB STATE CODES section of squeue(1) and sacct(1) in Slurm 22.05. */
const LONG_NAMES = [
  'PENDING',
  'RUNNING',
  'SUSPENDED',
  'COMPLETING',
  'COMPLETED',
  'CANCELLED',
  'FAILED',
  'TIMEOUT',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'OUT_OF_MEMORY',
  'REQUEUED',
  'REQUEUE_FED',
  'REQUEUE_HOLD',
  'RESIZING',
  'REVOKED',
  'SIGNALING',
  'SPECIAL_EXIT',
  'STAGE_OUT',
  'STOPPED',
  'CONFIGURING',
  'RESV_DEL_HOLD',
  'POWER_UP_NODE',
  'UPDATE_DB',
];
const SHORT_CODES: Record<string, string> = {
  PD: 'PENDING',
  R: 'RUNNING',
  S: 'SUSPENDED',
  CG: 'COMPLETING',
  CD: 'COMPLETED',
  CA: 'CANCELLED',
  F: 'FAILED',
  TO: 'TIMEOUT',
  NF: 'NODE_FAIL',
  PR: 'PREEMPTED',
  BF: 'BOOT_FAIL',
  DL: 'DEADLINE',
  OOM: 'OUT_OF_MEMORY',
  RQ: 'REQUEUED',
  RF: 'REQUEUE_FED',
  RH: 'REQUEUE_HOLD',
  RS: 'RESIZING',
  RV: 'REVOKED',
  SI: 'SIGNALING',
  SE: 'SPECIAL_EXIT',
  SO: 'STAGE_OUT',
  ST: 'STOPPED',
  CF: 'CONFIGURING',
  RD: 'RESV_DEL_HOLD',
};

describe('SLURM_STATE_MAP', () => {
  it('has every long state name and short code, and nothing else', () => {
    expect(Object.keys(SLURM_STATE_MAP).sort()).toEqual(
      [...LONG_NAMES, ...Object.keys(SHORT_CODES)].sort(),
    );
  });

  it.each(Object.entries(SLURM_STATE_MAP))('maps %s onto a JobState', (native, state) => {
    expect(JOB_STATES).toContain(state);
    expect(mapSlurmState(native)).toBe(state);
  });

  it.each(Object.entries(SHORT_CODES))('maps the short code %s like %s', (code, long) => {
    expect(mapSlurmState(code)).toBe(mapSlurmState(long));
  });

  it('maps the states a session sees most as documented', () => {
    expect(mapSlurmState('PENDING')).toBe('queued');
    expect(mapSlurmState('RUNNING')).toBe('starting');
    expect(mapSlurmState('CONFIGURING')).toBe('starting');
    expect(mapSlurmState('SUSPENDED')).toBe('queued');
    expect(mapSlurmState('STOPPED')).toBe('queued');
    expect(mapSlurmState('REQUEUE_HOLD')).toBe('queued');
    expect(mapSlurmState('COMPLETING')).toBe('stopping');
    expect(mapSlurmState('COMPLETED')).toBe('completed');
    expect(mapSlurmState('TIMEOUT')).toBe('timed-out');
    expect(mapSlurmState('DEADLINE')).toBe('timed-out');
    expect(mapSlurmState('OUT_OF_MEMORY')).toBe('failed');
    expect(mapSlurmState('NODE_FAIL')).toBe('failed');
  });

  it('ends a job only in states after which Slurm never changes it', () => {
    const final = Object.entries(SLURM_STATE_MAP)
      .filter(([, state]) => isFinal(state))
      .map(([native]) => native)
      .filter((native) => native.length > 3 || native === 'OOM');
    expect(final.sort()).toEqual(
      [
        'BOOT_FAIL',
        'CANCELLED',
        'COMPLETED',
        'DEADLINE',
        'FAILED',
        'NODE_FAIL',
        'OOM',
        'OUT_OF_MEMORY',
        'PREEMPTED',
        'TIMEOUT',
      ].sort(),
    );
    expect(FINAL_STATES.has('unknown')).toBe(false);
  });
});

describe('mapSlurmState', () => {
  it('reads sacct\'s "CANCELLED by <uid>", a truncated "+", and any case', () => {
    expect(mapSlurmState('CANCELLED by 1001')).toBe('cancelled');
    expect(normalizeSlurmState('CANCELLED by 1001')).toBe('CANCELLED');
    expect(mapSlurmState('CANCELLED+')).toBe('cancelled');
    expect(mapSlurmState(' running ')).toBe('starting');
  });

  it('gives unknown for anything not in the table', () => {
    expect(mapSlurmState('LAUNCH_FAILED')).toBe('unknown');
    expect(mapSlurmState('')).toBe('unknown');
    expect(mapSlurmState('?')).toBe('unknown');
    // Names of Object.prototype members must not be found through the prototype.
    expect(mapSlurmState('constructor')).toBe('unknown');
    expect(mapSlurmState('__proto__')).toBe('unknown');
    expect(mapSlurmState('toString')).toBe('unknown');
  });
});

describe('isPausedSlurmState', () => {
  it('is true only for jobs that hold an allocation without executing', () => {
    expect(isPausedSlurmState('SUSPENDED')).toBe(true);
    expect(isPausedSlurmState('ST')).toBe(true);
    expect(isPausedSlurmState('PENDING')).toBe(false);
    expect(isPausedSlurmState('RUNNING')).toBe(false);
  });
});
