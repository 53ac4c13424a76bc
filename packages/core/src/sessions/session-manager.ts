/**
 * The session service: owns the sessions in memory, their store on disk, the poller that follows
 * their jobs and the tunnels to their endpoints, and announces every change as an event. Starting,
 * polling and discovery live in their own modules and reach back through SessionHost. Open it
 * with `SessionManager.open`, which reattaches to every session that has not ended; `close()`
 * releases polls and tunnels and never cancels a job.
 */
import path from 'node:path';
import { AbortedError, SessionError, SessionNotFoundError, throwIfAborted } from '../errors.js';
import { isFinal } from '../schedulers/types.js';
import type { JobRenderer } from './job-renderer.js';
import { SESSION_FILES, sessionFile, tailFile } from './remote-files.js';
import { attachEngine, removeAttachment } from './session-attach.js';
import { adoptSession, discoverSessions } from './session-discovery.js';
import type { ClusterSource, SessionHost } from './session-host.js';
import { SessionSecrets } from './session-secrets.js';
import { WebUiCredentials, webUiAuthEndpoints } from './web-ui-auth.js';
import { startSession } from './session-start.js';
import { defaultSessionsDir, SessionStore } from './session-store.js';
import { syncCluster, watchConnection } from './session-sync.js';
import { changed } from './session-transitions.js';
import { SessionTunnels } from './session-tunnels.js';
import { SiteInfoCache, type SiteInfoCacheOptions } from './site-info-cache.js';
import { StoreInUseError, StoreLock, type StoreLockOptions } from './store-lock.js';
import { StatusPoller, type PollIntervals, type PollReport } from './status-poller.js';
import { waitForSession } from './wait-for.js';
import type {
  AgentEvent,
  EngineAttachment,
  SessionAccess,
  SessionRecord,
  SessionService,
  SessionSpec,
  WaitOptions,
} from './types.js';

export interface SessionManagerOptions {
  readonly clusters: ClusterSource;
  readonly renderer: JobRenderer;
  /**
   * Default `${XDG_STATE_HOME:-~/.local/state}/hpc-jupyter/sessions`; secrets in `secrets/`, the
   * files of attached engines in `attach/`.
   */
  readonly stateDir?: string;
  readonly intervals?: Partial<PollIntervals>;
  /** For jitter; tests make it predictable. */
  readonly random?: () => number;
  readonly siteInfo?: SiteInfoCacheOptions;
  /** Problems that are nobody's call's error: damaged store files, failed writes, bad reads. */
  readonly onProblem?: (error: unknown) => void;
  /** Every poll as it happened. */
  readonly onPoll?: (report: PollReport) => void;
  readonly now?: () => Date;
  /** How this manager holds the store against other agents (false: it does not, for tests). */
  readonly storeLock?: Omit<StoreLockOptions, 'onLost'> | false;
}

export class SessionManager implements SessionService {
  readonly store: SessionStore;
  private readonly clusters: ClusterSource;
  private readonly secrets: SessionSecrets;
  /** The web UI keys of sessions whose UIs the proxy forwarded to. */
  private readonly webUi = new WebUiCredentials();
  /** Where `attach()` copies engines' client files: one 0700 directory per session. */
  private readonly attachDir: string;
  private readonly tunnels = new SessionTunnels();
  /** What starting, polling and discovery see of this manager. */
  private readonly host: SessionHost;
  private readonly poller: StatusPoller;
  private readonly sessions = new Map<string, SessionRecord>();
  private readonly listeners = new Set<(event: AgentEvent) => void>();
  private readonly onProblem: (error: unknown) => void;
  private readonly clock: () => Date;
  /** Clusters whose last poll failed, with the error shown. */
  private readonly unreachable = new Map<string, string>();
  private closed = false;
  /** This agent's hold on the store; released by close(). */
  private lock: StoreLock | undefined;
  /** Aborted by close(): ends every wait. */
  private readonly closing = new AbortController();

  private constructor(options: SessionManagerOptions) {
    this.clusters = options.clusters;
    const dir = options.stateDir ?? defaultSessionsDir();
    this.store = new SessionStore(dir);
    this.secrets = new SessionSecrets(path.join(dir, 'secrets'));
    this.attachDir = path.join(dir, 'attach');
    this.onProblem = options.onProblem ?? (() => undefined);
    this.clock = options.now ?? (() => new Date());
    this.host = {
      clusters: options.clusters,
      renderer: options.renderer,
      secrets: this.secrets,
      siteInfo: new SiteInfoCache(options.siteInfo),
      tunnels: this.tunnels,
      stopRequested: new Set(),
      recheck: new Set(),
      recovering: new Set(),
      now: this.clock,
      record: (id) => this.sessions.get(id),
      all: () => this.list(),
      commit: (record, commitOptions) => this.commit(record, commitOptions),
      commitIf: (expected, next) => this.commitIf(expected, next),
      watchConnection: (id) => {
        this.watchConnection(id);
      },
      kick: (cluster, withinMs) => {
        this.poller.kick(cluster, withinMs);
      },
      problem: (error) => {
        this.problem(error);
      },
    };
    this.poller = new StatusPoller((cluster, signal) => syncCluster(this.host, cluster, signal), {
      ...(options.intervals === undefined ? {} : { intervals: options.intervals }),
      ...(options.random === undefined ? {} : { random: options.random }),
      onPoll: (report) => {
        this.clusterReport(report);
        options.onPoll?.(report);
      },
    });
  }

  /** Sessions whose connection.json is being looked for between polls. */
  private readonly watching = new Set<string>();

  private watchConnection(id: string): void {
    if (this.closed || this.watching.has(id)) return;
    this.watching.add(id);
    watchConnection(this.host, id, this.closing.signal)
      .catch((error: unknown) => {
        if (!this.closing.signal.aborted) this.problem(error);
      })
      .finally(() => this.watching.delete(id));
  }

  /** Loads the store and resumes following every session that has not ended. */
  static async open(options: SessionManagerOptions, signal?: AbortSignal): Promise<SessionManager> {
    const manager = new SessionManager(options);
    await manager.store.ensureDir();
    if (options.storeLock !== false) {
      manager.lock = await StoreLock.acquire(manager.store.dir, {
        ...options.storeLock,
        onLost: (holder) => {
          manager.problem(
            new StoreInUseError(
              `Another agent${holder === undefined ? '' : ` (on ${holder.host}, pid ${holder.pid})`} took over the session store ${manager.store.dir} while this one was stalled.`,
              {
                hint: 'Stop this agent (`hpc-jupyter agent stop`); the other one now owns the sessions.',
              },
            ),
          );
        },
      });
    }
    const { records, problems } = await manager.store.load(signal);
    for (const problem of problems) manager.problem(problem);
    for (const record of records) {
      manager.sessions.set(record.id, record);
      if (isFinal(record.state)) continue;
      const { recheck, stopRequested, recovering } = manager.host;
      recheck.add(record.id);
      if (record.state === 'stopping') stopRequested.add(record.id);
      if (record.state === 'submitting' && record.jobId === undefined) recovering.add(record.id);
    }
    for (const cluster of new Set(manager.live().map((r) => r.cluster))) {
      manager.poller.kick(cluster, 0);
    }
    return manager;
  }

  list(): readonly SessionRecord[] {
    return [...this.sessions.values()];
  }

  get(id: string): SessionRecord | undefined {
    return this.sessions.get(id);
  }

  async start(
    spec: SessionSpec,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<SessionRecord> {
    this.checkOpen();
    return startSession(this.host, spec, options.signal);
  }

  async stop(id: string, options: { readonly signal?: AbortSignal } = {}): Promise<SessionRecord> {
    this.checkOpen();
    throwIfAborted(options.signal);
    const record = this.require(id);
    if (isFinal(record.state) || record.state === 'stopping') return record;
    if (record.jobId === undefined) {
      // Being submitted: the submit (or its recovery) cancels the job as soon as it has an id.
      this.host.stopRequested.add(id);
      return this.commit({ ...record, state: 'stopping' });
    }
    const { scheduler } = this.clusters.get(record.cluster);
    await scheduler.cancel([record.jobId], options.signal ? { signal: options.signal } : {});
    this.host.stopRequested.add(id);
    const current = this.sessions.get(id) ?? record;
    const saved = isFinal(current.state)
      ? current
      : await this.commit({ ...current, state: 'stopping' });
    this.poller.kick(record.cluster);
    return saved;
  }

  async adopt(id: string, options: { readonly signal?: AbortSignal } = {}): Promise<SessionRecord> {
    this.checkOpen();
    return adoptSession(this.host, id, options.signal);
  }

  async remove(id: string): Promise<void> {
    const record = this.require(id);
    if (!isFinal(record.state) && record.discovered !== true) {
      throw new SessionError(
        `Session ${id} is ${record.state}: only ended or discovered sessions can be removed.`,
        id,
        record.state,
        { hint: 'Stop it first.' },
      );
    }
    this.sessions.delete(id);
    const { stopRequested, recheck, recovering } = this.host;
    for (const set of [stopRequested, recheck, recovering]) set.delete(id);
    await this.tunnels.closeSession(id);
    this.webUi.forget(id);
    await Promise.all([
      this.store.delete(id),
      this.secrets.remove(id),
      removeAttachment(this.attachDir, id),
    ]);
    this.emit({ type: 'session-removed', id });
  }

  async discover(
    cluster: string,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<readonly SessionRecord[]> {
    this.checkOpen();
    return discoverSessions(this.host, cluster, options.signal);
  }

  async logs(
    id: string,
    options: { readonly lines?: number; readonly signal?: AbortSignal } = {},
  ): Promise<string> {
    const record = this.require(id);
    if (record.sessionDir === undefined) return record.logTail ?? '';
    const { transport } = this.clusters.get(record.cluster);
    const file = sessionFile(record.sessionDir, SESSION_FILES.log);
    return tailFile(transport, file, options.lines ?? 100, options.signal);
  }

  waitFor(
    id: string,
    predicate: (s: SessionRecord) => boolean,
    options: WaitOptions = {},
  ): Promise<SessionRecord> {
    return waitForSession(
      {
        get: (sid) => this.sessions.get(sid),
        onEvent: (listener) => this.onEvent(listener),
        closed: this.closing.signal,
      },
      id,
      predicate,
      options,
    );
  }

  async access(
    id: string,
    endpoint?: string,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<SessionAccess> {
    this.checkOpen();
    const record = this.require(id);
    const { transport } = this.clusters.get(record.cluster);
    return this.tunnels.access(record, transport, endpoint, options.signal);
  }

  async attach(
    id: string,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<EngineAttachment> {
    this.checkOpen();
    const record = this.require(id);
    const { transport } = this.clusters.get(record.cluster);
    return attachEngine({
      record,
      transport,
      access: (endpoint) => this.tunnels.access(record, transport, endpoint, options.signal),
      root: this.attachDir,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }

  async secret(id: string): Promise<string | undefined> {
    this.require(id);
    return this.secrets.read(id);
  }

  async webUiAuthorization(
    id: string,
    endpoint: string,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<string | undefined> {
    this.checkOpen();
    const record = this.require(id);
    if (!webUiAuthEndpoints(record.connection).has(endpoint)) return undefined;
    const { transport } = this.clusters.get(record.cluster);
    return this.webUi.authorization(record, transport, endpoint, options.signal);
  }

  onEvent(listener: (event: AgentEvent) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    await this.poller.close();
    await this.tunnels.close();
    await this.store.flush();
    await this.lock?.release();
    this.listeners.clear();
  }

  // ---- internals --------------------------------------------------------------------------

  private async commit(
    record: SessionRecord,
    options: { readonly durable?: boolean } = {},
  ): Promise<SessionRecord> {
    const previous = this.sessions.get(record.id);
    if (previous !== undefined && !changed(previous, record)) return previous;
    const next = { ...record, updatedAt: this.clock().toISOString() };
    this.sessions.set(next.id, next);
    if (isFinal(next.state) && (previous === undefined || !isFinal(previous.state))) {
      // Nothing is left to reach: close its tunnels and drop the engine files copied for clients.
      void this.tunnels.closeSession(next.id);
      this.webUi.forget(next.id);
      removeAttachment(this.attachDir, next.id).catch((error: unknown) => {
        this.problem(error);
      });
    }
    // Announced once on disk (writes of a session land in order, so events keep that order):
    // no client acts on a state that a crash could take back.
    try {
      await this.store.save(next);
    } catch (error) {
      if (options.durable === true) throw error;
      this.problem(error);
    }
    this.emit({ type: 'session', session: next });
    return next;
  }

  private async commitIf(expected: SessionRecord, next: SessionRecord): Promise<boolean> {
    if (this.sessions.get(expected.id) !== expected) return false;
    await this.commit(next);
    return true;
  }

  private problem(error: unknown): void {
    try {
      this.onProblem(error);
    } catch {
      // A reporter that throws must not break the poll that reported.
    }
  }

  /** A `cluster` event when polling a cluster starts failing or works again. */
  private clusterReport(report: PollReport): void {
    const { cluster } = report;
    if (report.outcome === 'error') {
      const error = report.error instanceof Error ? report.error.message : String(report.error);
      if (this.unreachable.get(cluster) === error) return;
      this.unreachable.set(cluster, error);
      this.emit({ type: 'cluster', cluster, reachable: false, error });
    } else if (this.unreachable.delete(cluster)) {
      this.emit({ type: 'cluster', cluster, reachable: true });
    }
  }

  private live(): SessionRecord[] {
    return this.list().filter((r) => !isFinal(r.state));
  }

  private require(id: string): SessionRecord {
    const record = this.sessions.get(id);
    if (record === undefined) throw new SessionNotFoundError(id);
    return record;
  }

  private checkOpen(): void {
    if (this.closed) throw new AbortedError('The session manager is closed.');
  }

  private emit(event: AgentEvent): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        this.problem(error);
      }
    }
  }
}
