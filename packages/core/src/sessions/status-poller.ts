/**
 * When to poll: one loop per cluster that runs the session layer's tick (which makes ONE batched
 * `scheduler.status` call for all that cluster's live sessions). Fast while something is in
 * transition, slow and jittered when everything is steady, exponential backoff while the cluster
 * errs, and no timer at all for a cluster without live sessions. One tick per cluster at a time.
 * Owns its timers and the AbortController of every tick in flight; `close()` releases them all.
 */

/** What the tick reports about the cluster after it ran. */
export type TickOutcome =
  /** Something is submitting, queued, starting or stopping: look again soon. */
  | 'busy'
  /** Everything is ready or unknown. */
  | 'steady'
  /** No live sessions: stop polling until kicked. */
  | 'idle';

export type Tick = (cluster: string, signal: AbortSignal) => Promise<TickOutcome>;

export interface PollIntervals {
  /** While any session is in transition. */
  readonly busyMs: number;
  /** While all are steady, before jitter. */
  readonly steadyMs: number;
  /** Fraction of `steadyMs` by which each steady interval varies, up or down. */
  readonly jitter: number;
  /** First delay after an error; doubled with each further error in a row. */
  readonly errorMs: number;
  /** The longest delay after errors. */
  readonly maxBackoffMs: number;
}

export const DEFAULT_INTERVALS: PollIntervals = {
  busyMs: 1_000,
  steadyMs: 15_000,
  jitter: 0.2,
  errorMs: 2_000,
  maxBackoffMs: 60_000,
};

/** One tick as it happened, for logs, tests and benchmarks. */
export interface PollReport {
  readonly cluster: string;
  readonly outcome: TickOutcome | 'error';
  readonly error?: unknown;
  /** Errors in a row so far, this one included. */
  readonly failures: number;
  /** Delay until the next tick; undefined when the loop stopped. */
  readonly nextDelayMs: number | undefined;
}

/** The delay after a tick: pure, so the schedule itself is tested. */
export function nextDelay(
  outcome: TickOutcome | 'error',
  failures: number,
  intervals: PollIntervals,
  random: () => number,
): number | undefined {
  switch (outcome) {
    case 'idle':
      return undefined;
    case 'busy':
      return intervals.busyMs;
    case 'steady':
      return Math.round(intervals.steadyMs * (1 + intervals.jitter * (2 * random() - 1)));
    case 'error':
      return Math.min(intervals.maxBackoffMs, intervals.errorMs * 2 ** Math.max(0, failures - 1));
  }
}

interface Loop {
  timer: NodeJS.Timeout | undefined;
  /** When the pending timer fires (ms since epoch). */
  due: number;
  running: Promise<void> | undefined;
  controller: AbortController | undefined;
  /** Kicks that arrived while a tick ran (counted, so one during this tick is seen). */
  kicks: number;
  failures: number;
}

export interface StatusPollerOptions {
  readonly intervals?: Partial<PollIntervals>;
  readonly random?: () => number;
  readonly onPoll?: (report: PollReport) => void;
}

export class StatusPoller {
  readonly intervals: PollIntervals;
  private readonly random: () => number;
  private readonly onPoll: ((report: PollReport) => void) | undefined;
  private readonly loops = new Map<string, Loop>();
  private closed = false;

  constructor(
    private readonly tick: Tick,
    options: StatusPollerOptions = {},
  ) {
    this.intervals = { ...DEFAULT_INTERVALS, ...options.intervals };
    this.random = options.random ?? Math.random;
    this.onPoll = options.onPoll;
  }

  /** Makes sure the cluster is polled within `withinMs` (default: the busy interval). */
  kick(cluster: string, withinMs: number = this.intervals.busyMs): void {
    if (this.closed) return;
    let loop = this.loops.get(cluster);
    if (loop === undefined) {
      loop = {
        timer: undefined,
        due: 0,
        running: undefined,
        controller: undefined,
        kicks: 0,
        failures: 0,
      };
      this.loops.set(cluster, loop);
    }
    if (loop.running !== undefined) {
      loop.kicks += 1;
      return;
    }
    const due = Date.now() + withinMs;
    if (loop.timer !== undefined && loop.due <= due) return;
    this.schedule(cluster, loop, withinMs);
  }

  /** Clusters with a loop (polling or waiting for its next tick). */
  active(): string[] {
    return [...this.loops.keys()];
  }

  /** Stops every loop and cancels the ticks in flight; waits for them to settle. */
  async close(): Promise<void> {
    this.closed = true;
    const running: Promise<void>[] = [];
    for (const loop of this.loops.values()) {
      if (loop.timer !== undefined) clearTimeout(loop.timer);
      loop.timer = undefined;
      loop.controller?.abort();
      if (loop.running !== undefined) running.push(loop.running);
    }
    await Promise.allSettled(running);
    this.loops.clear();
  }

  private schedule(cluster: string, loop: Loop, delayMs: number): void {
    if (loop.timer !== undefined) clearTimeout(loop.timer);
    loop.due = Date.now() + delayMs;
    loop.timer = setTimeout(() => {
      loop.timer = undefined;
      loop.running = this.run(cluster, loop).finally(() => {
        loop.running = undefined;
      });
    }, delayMs);
  }

  private async run(cluster: string, loop: Loop): Promise<void> {
    const kicks = loop.kicks;
    const controller = new AbortController();
    loop.controller = controller;
    let outcome: TickOutcome | 'error';
    let error: unknown;
    try {
      outcome = await this.tick(cluster, controller.signal);
      loop.failures = 0;
    } catch (e) {
      outcome = 'error';
      error = e;
      loop.failures += 1;
    } finally {
      loop.controller = undefined;
    }
    if (this.closed) return;
    let delay = nextDelay(outcome, loop.failures, this.intervals, this.random);
    // A kick during the tick (a new session, a stop) wants a look soon, but not sooner than the
    // busy interval; a failed tick keeps its backoff.
    if (loop.kicks !== kicks && outcome !== 'error')
      delay = Math.min(delay ?? Infinity, this.intervals.busyMs);
    this.onPoll?.({
      cluster,
      outcome,
      ...(error === undefined ? {} : { error }),
      failures: loop.failures,
      nextDelayMs: delay,
    });
    if (delay === undefined) {
      this.loops.delete(cluster);
      return;
    }
    this.schedule(cluster, loop, delay);
  }
}
