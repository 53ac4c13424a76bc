// Notices about the job land on the running cells, or on the next cell when none runs; the
// walltime warning comes ahead of the end; what is tracked is bounded.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { fakeRecord } from '../agent/fake-session-service.js';
import { CellNotices, MAX_RUNNING } from './cell-notices.js';
import type { KernelVoice } from './kernel-voice.js';

function notices(): { notices: CellNotices; said: [string | undefined, string][] } {
  const said: [string | undefined, string][] = [];
  const voice = {
    stream: (parent: Buffer | undefined, _name: string, text: string) => {
      said.push([parent?.toString(), text]);
    },
  } as unknown as KernelVoice;
  return { notices: new CellNotices(voice, () => undefined), said };
}

describe('CellNotices', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('tells running cells at once, and keeps a notice for the next cell otherwise', () => {
    const { notices: n, said } = notices();
    n.notice('first\n');
    expect(said).toEqual([]);
    n.executing('m1', Buffer.from('h1'));
    expect(said).toEqual([['h1', 'first\n']]);
    n.notice('second\n');
    expect(said.at(-1)).toEqual(['h1', 'second\n']);
    n.answered('m1');
    expect(n.busy).toBe(false);
    n.tellEveryone('bye\n');
    expect(said.at(-1)).toEqual([undefined, 'bye\n']);
    n.tellEveryone('bye\n', [Buffer.from('held')]);
    expect(said.at(-1)).toEqual(['held', 'bye\n']);
  });

  it('tracks at most MAX_RUNNING requests, forgetting the oldest first', () => {
    const { notices: n, said } = notices();
    for (let i = 0; i <= MAX_RUNNING; i++) n.executing(`m${i}`, Buffer.from(`h${i}`));
    n.tellEveryone('all\n');
    expect(said).toHaveLength(MAX_RUNNING);
    expect(said[0]).toEqual(['h1', 'all\n']);
    expect(said.at(-1)).toEqual([`h${MAX_RUNNING}`, 'all\n']);
  });

  it('warns ten minutes before the walltime of an hour-long job', () => {
    vi.useFakeTimers();
    const start = new Date('2026-06-01T12:00:00Z');
    vi.setSystemTime(start);
    const { notices: n, said } = notices();
    const record = fakeRecord('s0123456789ab', {
      jobId: '9',
      state: 'ready',
      startedAt: start.toISOString(),
      timeLimitMinutes: 60,
    });
    n.executing('m1', Buffer.from('h1'));
    n.watchWalltime(record, 'slurm', () => record);
    n.watchWalltime(record, 'slurm', () => record);
    vi.advanceTimersByTime(49 * 60_000);
    expect(said).toEqual([]);
    vi.advanceTimersByTime(60_000);
    expect(said).toHaveLength(1);
    expect(said[0]?.[1]).toMatch(
      /^hpc-jupyter: Slurm job 9 reaches its time limit at .* \(in 10 minutes\)/,
    );
    n.stop();
  });
});
