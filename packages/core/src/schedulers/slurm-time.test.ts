import { describe, expect, it } from 'vitest';

import { formatSlurmDuration, parseSlurmDuration, parseSlurmTimestamp } from './slurm-time.js';

describe('parseSlurmDuration', () => {
  it.each([
    // As squeue %l, sinfo %l and sacct Timelimit print them on the test cluster.
    ['30:00', 30],
    ['1:00', 1],
    ['5:00', 5],
    ['1:30:00', 90],
    ['00:05:00', 5],
    ['1-00:00:00', 1440],
    ['2-03:04:05', 2 * 1440 + 3 * 60 + 5],
    // Forms Slurm reads and some sites print.
    ['45', 45],
    ['1-12', 1440 + 720],
    ['1-12:30', 1440 + 750],
    ['0:30', 1],
  ])('reads %j as %d minutes', (text, minutes) => {
    expect(parseSlurmDuration(text)).toBe(minutes);
  });

  it.each([
    'infinite',
    'UNLIMITED',
    'n/a',
    'NOT_SET',
    'Partition_Limit',
    'INVALID',
    '',
    'abc',
    '1:2:3:4',
    '-5',
  ])('has no value for %j', (text) => {
    expect(parseSlurmDuration(text)).toBeUndefined();
  });
});

describe('formatSlurmDuration', () => {
  it('writes D-HH:MM:SS, which Slurm reads back as the same minutes', () => {
    expect(formatSlurmDuration(90)).toBe('0-01:30:00');
    expect(formatSlurmDuration(2 * 1440 + 5)).toBe('2-00:05:00');
    expect(formatSlurmDuration(1)).toBe('0-00:01:00');
    for (const minutes of [1, 59, 60, 61, 1439, 1440, 1441, 10_000]) {
      expect(parseSlurmDuration(formatSlurmDuration(minutes))).toBe(minutes);
    }
  });
});

describe('parseSlurmTimestamp', () => {
  it('reads epoch seconds (SLURM_TIME_FORMAT=%s)', () => {
    expect(parseSlurmTimestamp('1795315930')?.toISOString()).toBe('2026-11-22T02:52:10.000Z');
  });

  it('reads ISO local time as UTC, since the adapter runs Slurm with TZ=UTC', () => {
    expect(parseSlurmTimestamp('2026-11-22T02:52:10')?.toISOString()).toBe(
      '2026-11-22T02:52:10.000Z',
    );
  });

  it.each([
    'N/A',
    'Unknown',
    'None',
    'NONE',
    '',
    '0',
    '4294967294',
    '4294967295',
    'tomorrow',
    '2026-13-45',
  ])('has no time for %j', (text) => {
    const parsed = parseSlurmTimestamp(text);
    expect(parsed === undefined || Number.isNaN(parsed.getTime())).toBe(true);
    expect(parsed).toBeUndefined();
  });
});
