import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from './test-kit.js';
import {
  DEFAULT_INTERVALS,
  nextDelay,
  StatusPoller,
  type PollReport,
  type TickOutcome,
} from './status-poller.js';

describe('nextDelay', () => {
  const i = DEFAULT_INTERVALS;
  it('is fast while busy, none when idle', () => {
    expect(nextDelay('busy', 0, i, Math.random)).toBe(1_000);
    expect(nextDelay('idle', 0, i, Math.random)).toBeUndefined();
  });
  it('is 15 s ± 20 % when steady', () => {
    expect(nextDelay('steady', 0, i, () => 0)).toBe(12_000);
    expect(nextDelay('steady', 0, i, () => 0.5)).toBe(15_000);
    expect(nextDelay('steady', 0, i, () => 0.999999)).toBe(18_000);
  });
  it('backs off exponentially to 60 s on errors', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => nextDelay('error', n, i, Math.random))).toEqual([
      2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000,
    ]);
  });
});

describe('StatusPoller', () => {
  let poller: StatusPoller | undefined;
  afterEach(async () => {
    await poller?.close();
  });
  const fast = { busyMs: 5, steadyMs: 40, jitter: 0, errorMs: 5, maxBackoffMs: 40 };

  it('polls while busy, then stops its loop when the cluster goes idle', async () => {
    const outcomes: TickOutcome[] = ['busy', 'busy', 'steady', 'idle'];
    const reports: PollReport[] = [];
    let ticks = 0;
    poller = new StatusPoller(() => Promise.resolve(outcomes[ticks++] ?? 'idle'), {
      intervals: fast,
      onPoll: (r) => reports.push(r),
    });
    poller.kick('c', 0);
    await eventually(() => reports.length === 4);
    expect(reports.map((r) => r.nextDelayMs)).toEqual([5, 5, 40, undefined]);
    expect(poller.active()).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(ticks).toBe(4);
  });

  it('backs off while the tick fails and recovers on success', async () => {
    const reports: PollReport[] = [];
    let calls = 0;
    poller = new StatusPoller(
      () => (++calls <= 5 ? Promise.reject(new Error('ssh down')) : Promise.resolve('busy')),
      { intervals: fast, onPoll: (r) => reports.push(r) },
    );
    poller.kick('c', 0);
    await eventually(() => reports.length >= 7);
    expect(reports.slice(0, 7).map((r) => [r.outcome, r.failures, r.nextDelayMs])).toEqual([
      ['error', 1, 5],
      ['error', 2, 10],
      ['error', 3, 20],
      ['error', 4, 40],
      ['error', 5, 40],
      ['busy', 0, 5],
      ['busy', 0, 5],
    ]);
  });

  it('never runs two ticks of a cluster at once; a kick during a tick polls again soon', async () => {
    let running = 0;
    let maxRunning = 0;
    let ticks = 0;
    poller = new StatusPoller(
      async () => {
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        ticks += 1;
        await new Promise((r) => setTimeout(r, 30));
        running -= 1;
        return ticks === 1 ? 'idle' : 'idle';
      },
      { intervals: fast },
    );
    poller.kick('c', 0);
    await eventually(() => running === 1);
    for (let k = 0; k < 10; k++) poller.kick('c', 0);
    await eventually(() => ticks === 2 && running === 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(ticks).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('keeps one loop per cluster', async () => {
    const seen: string[] = [];
    poller = new StatusPoller(
      (cluster) => {
        seen.push(cluster);
        return Promise.resolve('idle');
      },
      { intervals: fast },
    );
    poller.kick('a', 0);
    poller.kick('b', 0);
    poller.kick('a', 0);
    await eventually(() => seen.length === 2);
    await new Promise((r) => setTimeout(r, 30));
    expect(seen.sort()).toEqual(['a', 'b']);
  });

  it('close() aborts the tick in flight and stops polling', async () => {
    let signal: AbortSignal | undefined;
    let ticks = 0;
    poller = new StatusPoller(
      (_cluster, s) => {
        ticks += 1;
        signal = s;
        return new Promise<TickOutcome>((resolve) => {
          s.addEventListener('abort', () => {
            resolve('busy');
          });
        });
      },
      { intervals: fast },
    );
    poller.kick('c', 0);
    await eventually(() => signal !== undefined);
    await poller.close();
    expect(signal?.aborted).toBe(true);
    poller.kick('c', 0);
    await new Promise((r) => setTimeout(r, 30));
    expect(ticks).toBe(1);
  });
});
