/**
 * Decides when the agent has nothing left to do: no live session (one that has not ended, which
 * includes `unknown`: a job we cannot see may still run) and no request, event stream or proxied
 * connection for the idle period. Owns one timer.
 */

/** `HPC_JUPYTER_AGENT_IDLE_SECONDS`, default 10 minutes. */
export const DEFAULT_IDLE_SECONDS = 600;

export interface IdleMonitorOptions {
  readonly idleMs: number;
  /** True while something needs the agent (live sessions, open requests or streams). */
  readonly isBusy: () => boolean;
  /** Date.now() of the last request start or end. */
  readonly lastActivity: () => number;
  readonly onIdle: () => void;
  /** How often to look; default a quarter of the idle period, at most 30 s. */
  readonly checkMs?: number;
}

export class IdleMonitor {
  private readonly timer: NodeJS.Timeout;
  private lastBusy = Date.now();
  private fired = false;

  constructor(private readonly options: IdleMonitorOptions) {
    const checkMs = options.checkMs ?? Math.min(Math.max(options.idleMs / 4, 50), 30_000);
    this.timer = setInterval(() => {
      this.check();
    }, checkMs);
  }

  check(): void {
    if (this.fired) return;
    const now = Date.now();
    if (this.options.isBusy()) {
      this.lastBusy = now;
      return;
    }
    const since = Math.max(this.lastBusy, this.options.lastActivity());
    if (now - since >= this.options.idleMs) {
      this.fired = true;
      this.dispose();
      this.options.onIdle();
    }
  }

  dispose(): void {
    clearInterval(this.timer);
  }
}

/** The idle period from the environment: seconds (fractions allowed), else the default. */
export function idleSecondsFrom(env: Readonly<Record<string, string | undefined>>): number {
  const raw = env['HPC_JUPYTER_AGENT_IDLE_SECONDS'];
  if (raw === undefined || raw.trim() === '') return DEFAULT_IDLE_SECONDS;
  const value = Number(raw);
  return Number.isFinite(value) && value > 0 ? value : DEFAULT_IDLE_SECONDS;
}
