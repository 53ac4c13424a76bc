/**
 * Leases: how a client that owns a session's job (the kernel launcher) makes the agent cancel the
 * job when the client dies, however it dies (SIGKILL included). A lease is an open request; when
 * a session's last lease closes, the agent waits a grace period and then stops the session,
 * unless a new lease was opened meanwhile (a restarted launcher picking the job up again) or a
 * hold covers the gap (a restart that takes longer than the grace). Sessions that never had a
 * lease are never stopped by this. Owns one timer per session whose leases are all gone.
 */
import type { AgentLog } from './agent-log.js';

export const DEFAULT_LEASE_GRACE_MS = 10_000;

export interface SessionLeasesOptions {
  /** Stops the session (cancels its job); errors are logged. */
  readonly stop: (id: string) => Promise<unknown>;
  readonly log?: AgentLog;
  readonly now?: () => number;
}

/** One open lease; `release()` is idempotent. */
export interface Lease {
  release(): void;
}

interface LeaseState {
  open: number;
  graceMs: number;
  holdUntil: number;
  timer: NodeJS.Timeout | undefined;
}

export class SessionLeases {
  private readonly states = new Map<string, LeaseState>();
  private readonly now: () => number;
  private disposed = false;

  constructor(private readonly options: SessionLeasesOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Opens a lease on the session; `graceMs` is how long a lost lease is waited for. */
  open(id: string, graceMs: number = DEFAULT_LEASE_GRACE_MS): Lease {
    const state = this.stateOf(id);
    state.open++;
    state.graceMs = graceMs;
    this.clearTimer(state);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        state.open--;
        if (state.open === 0) this.schedule(id, state);
      },
    };
  }

  /**
   * Keeps the session for `ms` even if its leases are lost meanwhile (a restart: the launcher
   * exits and the next one leases the session again). Returns the time the hold ends.
   */
  hold(id: string, ms: number): number {
    const state = this.stateOf(id);
    state.holdUntil = this.now() + ms;
    if (state.timer !== undefined) this.schedule(id, state);
    return state.holdUntil;
  }

  /** Open leases of a session (for tests and health). */
  count(id: string): number {
    return this.states.get(id)?.open ?? 0;
  }

  /** True while the session's leases are gone and its stop is pending. */
  pending(id: string): boolean {
    return this.states.get(id)?.timer !== undefined;
  }

  /** Clears every timer without stopping anything: the agent is going away, jobs stay. */
  dispose(): void {
    this.disposed = true;
    for (const state of this.states.values()) this.clearTimer(state);
    this.states.clear();
  }

  private stateOf(id: string): LeaseState {
    let state = this.states.get(id);
    if (state === undefined) {
      state = { open: 0, graceMs: DEFAULT_LEASE_GRACE_MS, holdUntil: 0, timer: undefined };
      this.states.set(id, state);
    }
    return state;
  }

  private schedule(id: string, state: LeaseState): void {
    this.clearTimer(state);
    if (this.disposed) return;
    const delay = Math.max(state.graceMs, state.holdUntil - this.now());
    state.timer = setTimeout(() => {
      state.timer = undefined;
      if (state.open > 0 || this.disposed) return;
      this.states.delete(id);
      this.options.log?.info(`session ${id}: its lease was not renewed; stopping it`);
      this.options.stop(id).catch((err: unknown) => {
        this.options.log?.warn(`session ${id}: stopping after a lost lease failed: ${String(err)}`);
      });
    }, delay);
    // A pending stop must not keep a closing agent alive; the agent stays up while it has live
    // sessions anyway.
    state.timer.unref();
  }

  private clearTimer(state: LeaseState): void {
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = undefined;
  }
}
