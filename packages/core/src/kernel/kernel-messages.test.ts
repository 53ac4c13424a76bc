// What the notebook is told while it waits and when things end, as pure text.
import { describe, expect, it } from 'vitest';
import { fakeRecord } from '../agent/fake-session-service.js';
import {
  formatClock,
  formatElapsed,
  jobEndedText,
  kernelDiedText,
  startedText,
  waitingText,
  walltimeEnd,
  walltimeWarningText,
  warningLeadMs,
} from './kernel-messages.js';

const now = new Date(2026, 5, 1, 12, 0, 42);
const since = new Date(2026, 5, 1, 12, 0, 0);
const queued = fakeRecord('s0123456789ab', {
  cluster: 'testlab',
  jobId: '1234',
  state: 'queued',
  reason: 'Resources',
  expectedStart: new Date(2026, 5, 1, 12, 3).toISOString(),
});

describe('the waiting message', () => {
  it('says the job, its queue state, the expected start and the time waited', () => {
    const view = {
      phase: 'waiting' as const,
      cluster: 'testlab',
      scheduler: 'slurm',
      record: queued,
      since,
    };
    expect(waitingText(view, now)).toBe(
      'Waiting for Slurm job 1234 on testlab: PENDING (Resources), expected start 12:03, 0:42 elapsed',
    );
    const started = { ...queued, state: 'starting' as const, nodes: ['node3'] };
    expect(waitingText({ ...view, record: started }, now)).toBe(
      'Slurm job 1234 is running on node3: starting the kernel, 0:42 elapsed',
    );
    expect(
      waitingText({ ...view, record: { ...queued, state: 'unknown', reason: 'ssh down' } }, now),
    ).toMatch(/state is unknown for now \(ssh down\)/);
    expect(waitingText({ phase: 'submitting', cluster: '', scheduler: '', since }, now)).toBe(
      'Submitting the batch job, 0:42 elapsed',
    );
    expect(waitingText({ ...view, phase: 'restarting', record: started }, now)).toBe(
      'Restarting the kernel in Slurm job 1234 on node3, 0:42 elapsed',
    );
    expect(
      waitingText(
        { phase: 'submitting', cluster: 'testlab', scheduler: 'slurm', since, prompt: 'Password:' },
        now,
      ),
    ).toBe(
      'Submitting the Slurm job to testlab, 0:42 elapsed. The agent waits for an answer to an SSH prompt for testlab ("Password:"): answer it in the HPC panel of JupyterLab or VS Code, or run `hpc-jupyter list` in a terminal',
    );
    expect(startedText({ ...view, record: started }, now)).toBe(
      'Running in Slurm job 1234 on node3 (waited 0:42).',
    );
  });

  it('formats times as people read them', () => {
    expect(formatElapsed(42_000)).toBe('0:42');
    expect(formatElapsed(3_723_000)).toBe('1:02:03');
    expect(formatElapsed(-5)).toBe('0:00');
    expect(formatClock(new Date(2026, 5, 1, 9, 5), now)).toBe('09:05');
    expect(formatClock(new Date(2026, 5, 2, 9, 5), now)).toBe('2026-06-02 09:05');
  });
});

describe('the walltime warning and endings', () => {
  it('warns 10 minutes before the end, or a quarter of a short limit', () => {
    const running = {
      ...queued,
      state: 'ready' as const,
      startedAt: since.toISOString(),
      timeLimitMinutes: 60,
    };
    const end = walltimeEnd(running);
    expect(end?.getTime()).toBe(since.getTime() + 3_600_000);
    expect(warningLeadMs(running)).toBe(600_000);
    expect(warningLeadMs({ ...running, timeLimitMinutes: 20 })).toBe(300_000);
    expect(walltimeEnd({ ...running, startedAt: undefined })).toBeUndefined();
    const text = walltimeWarningText(
      'slurm',
      running,
      end as Date,
      new Date((end as Date).getTime() - 600_000),
    );
    expect(text).toBe(
      'hpc-jupyter: Slurm job 1234 reaches its time limit at 13:00 (in 10 minutes). The kernel and everything in it stop then: save what you need.\n',
    );
  });

  it('says why the kernel is gone', () => {
    expect(
      jobEndedText('slurm', {
        ...queued,
        state: 'timed-out',
        reason: 'the job reached its time limit',
      }),
    ).toBe(
      'hpc-jupyter: Slurm job 1234 on testlab has ended (timed-out: the job reached its time limit). This kernel is gone; restart it to run in a new job.\n',
    );
    expect(kernelDiedText('slurm', { ...queued, nodes: ['node2'] })).toMatch(
      /^hpc-jupyter: the kernel on node2 \(Slurm job 1234\) died or stopped answering\./,
    );
  });
});
