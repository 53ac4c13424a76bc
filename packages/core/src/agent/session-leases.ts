/**
 * Leases: how a client that owns a session's job (the kernel launcher) makes the agent cancel the
 * job when the client dies, however it dies (SIGKILL included). A lease is an open request; when
 * a session's last lease closes, the agent waits a grace period and then stops the session,
 * unless a new lease was opened meanwhile (a restarted launcher picking the job up again) or a
 * hold covers the gap (a restart that takes longer than the grace). Sessions that never had a
 * lease are never stopped by this. Owns one timer per session whose leases are all gone.
 *
 * With a store, which sessions are leased (and their grace and hold) survives the agent: an
 * agent killed with -9 while a launcher ran, then that launcher dying while no agent runs, would
 * otherwise leave the job running until its walltime. The next agent `restore`s them and stops
 * each one whose launcher does not lease it again within the grace (at least
 * RESTORED_GRACE_MS: launchers find a new agent within a few seconds).
 */
import type { AgentLog } from './agent-log.js';

export const DEFAULT_LEASE_GRACE_MS = 10_000;
/** The least a restored lease waits for its launcher (which retries every 2 s). */
export const RESTORED_GRACE_MS = 20_000;
/** How long after a failed stop it is tried again (the cluster may be unreachable). */
const RETRY_STOP_MS = 30_000;

/** A leased session as stored: what a restarted agent needs to keep or stop it. */
export interface LeaseEntry {
  readonly id: string;
  readonly graceMs: number;
  /** Epoch ms until which a hold keeps the session (0: none). */
  readonly holdUntil: number;
}

/** Where leases are kept across agents (the session store: atomic, 0600). */
export interface LeaseStore {
  loadLeases(): Promise<{ readonly entries: readonly LeaseEntry[]; readonly problem?: Error }>;
  saveLeases(entries: readonly LeaseEntry[]): Promise<void>;
}

export interface SessionLeasesOptions {
  /** Stops the session (cancels its job); errors are logged. */
  readonly stop: (id: string) => Promise<unknown>;
  readonly log?: AgentLog;
  readonly now?: () => number;
  /** Keeps the leases for the next agent. */
  readonly store?: LeaseStore;
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
  /** In the store: it had a lease (a hold alone is not kept). */
  stored: boolean;
}

export class SessionLeases {
  private readonly states = new Map<string, LeaseState>();
  private readonly now: () => number;
  private disposed = false;
  /** The last store write (each waits for the one before). */
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: SessionLeasesOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Opens a lease on the session; `graceMs` is how long a lost lease is waited for. */
  open(id: string, graceMs: number = DEFAULT_LEASE_GRACE_MS): Lease {
    const state = this.stateOf(id);
    const changed = state.graceMs !== graceMs || !state.stored;
    state.open++;
    state.graceMs = graceMs;
    state.stored = true;
    this.clearTimer(state);
    if (changed) this.persist();
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
    if (state.stored) this.persist();
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

  /**
   * Takes over the leases a previous agent stored: each session still live (`isLive`) and not
   * leased here already is stopped unless its launcher leases it again within the grace. The
   * others (ended, forgotten) are dropped from the store. A damaged store is reported, not fatal.
   */
  async restore(isLive: (id: string) => boolean): Promise<void> {
    const store = this.options.store;
    if (store === undefined || this.disposed) return;
    let loaded: Awaited<ReturnType<LeaseStore['loadLeases']>>;
    try {
      loaded = await store.loadLeases();
    } catch (error) {
      this.options.log?.warn(`could not read the stored leases: ${String(error)}`);
      return;
    }
    if (loaded.problem !== undefined) {
      this.options.log?.warn(
        `the stored leases are damaged and were ignored: ${loaded.problem.message}`,
      );
    }
    for (const entry of loaded.entries) {
      if (this.states.has(entry.id) || !isLive(entry.id)) continue;
      const state = this.stateOf(entry.id);
      state.graceMs = Math.max(entry.graceMs, RESTORED_GRACE_MS);
      state.holdUntil = entry.holdUntil;
      state.stored = true;
      this.options.log?.info(
        `session ${entry.id} was leased before this agent started; stopping it unless its launcher leases it again within ${Math.round(Math.max(state.graceMs, state.holdUntil - this.now()) / 1000)} s`,
      );
      this.schedule(entry.id, state);
    }
    this.persist();
  }

  /** The session ended (or was removed): nothing to keep or stop any more. */
  forget(id: string): void {
    const state = this.states.get(id);
    if (state === undefined) return;
    this.clearTimer(state);
    this.states.delete(id);
    if (state.stored) this.persist();
  }

  /** Resolves once the leases' last change is stored (tests). */
  async stored(): Promise<void> {
    await this.saving;
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
      state = {
        open: 0,
        graceMs: DEFAULT_LEASE_GRACE_MS,
        holdUntil: 0,
        timer: undefined,
        stored: false,
      };
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
      this.options.log?.info(`session ${id}: its lease was not renewed; stopping it`);
      this.options.stop(id).then(
        () => {
          if (this.states.get(id) !== state || state.open > 0) return;
          this.states.delete(id);
          if (state.stored) this.persist();
        },
        (err: unknown) => {
          this.options.log?.warn(
            `session ${id}: stopping after a lost lease failed (tried again in ${RETRY_STOP_MS / 1000} s): ${String(err)}`,
          );
          if (this.states.get(id) !== state || state.open > 0 || this.disposed) return;
          state.holdUntil = 0;
          state.graceMs = RETRY_STOP_MS;
          this.schedule(id, state);
        },
      );
    }, delay);
    // A pending stop must not keep a closing agent alive; the agent stays up while it has live
    // sessions anyway.
    state.timer.unref();
  }

  /** Stores every leased session, after the write before it. */
  private persist(): void {
    const store = this.options.store;
    if (store === undefined || this.disposed) return;
    const entries: LeaseEntry[] = [...this.states.entries()]
      .filter(([, state]) => state.stored)
      .map(([id, state]) => ({ id, graceMs: state.graceMs, holdUntil: state.holdUntil }));
    this.saving = this.saving
      .then(() => store.saveLeases(entries))
      .catch((error: unknown) => {
        this.options.log?.warn(`could not store the leases: ${String(error)}`);
      });
  }

  private clearTimer(state: LeaseState): void {
    if (state.timer !== undefined) clearTimeout(state.timer);
    state.timer = undefined;
  }
}
