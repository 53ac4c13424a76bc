/**
 * What the session manager shares with the modules that do its work (starting, polling,
 * discovery): the clusters, the templates, the secrets, and one way to change a record. Internal
 * to `sessions/`; the public surface is SessionService.
 */
import type { OpenCluster } from '../clusters/connections.js';
import type { JobRenderer } from './job-renderer.js';
import type { SessionSecrets } from './session-secrets.js';
import type { SessionTunnels } from './session-tunnels.js';
import type { SiteInfoCache } from './site-info-cache.js';
import type { SessionRecord } from './types.js';

/** Where clusters come from: `ClusterConnections` in the agent, a fake in tests. */
export interface ClusterSource {
  /** The open cluster; throws (InvalidInputError) for a name that is not configured. */
  get(name: string): OpenCluster;
}

export interface SessionHost {
  readonly clusters: ClusterSource;
  readonly renderer: JobRenderer;
  readonly secrets: SessionSecrets;
  readonly siteInfo: SiteInfoCache;
  readonly tunnels: SessionTunnels;
  /** Sessions whose stop was asked for; they stay `stopping` until their job ends. */
  readonly stopRequested: Set<string>;
  /** Sessions to look at afresh (connection.json re-read) on their next poll: after a restart. */
  readonly recheck: Set<string>;
  /** `submitting` sessions without a job id whose submit may or may not have happened. */
  readonly recovering: Set<string>;
  now(): Date;
  record(id: string): SessionRecord | undefined;
  all(): readonly SessionRecord[];
  /**
   * Stores the record (stamping `updatedAt`), emits it if anything changed, and persists it.
   * `durable`: wait for the disk and throw if the write fails (before a submit); otherwise a write
   * failure is reported and the in-memory record still counts.
   */
  commit(record: SessionRecord, options?: { readonly durable?: boolean }): Promise<SessionRecord>;
  /**
   * Commits only if the session's record is still `expected` (nothing changed it while we were
   * away on the network); returns false when it was left alone.
   */
  commitIf(expected: SessionRecord, next: SessionRecord): Promise<boolean>;
  /**
   * Reads the session's connection.json often (a few times a second) while its job runs and the
   * file is not there yet, so that ready is seen when it happens rather than at the next poll.
   */
  watchConnection(id: string): void;
  /** Polls the cluster soon (default within the busy interval). */
  kick(cluster: string, withinMs?: number): void;
  /** Reports a problem that is not any caller's error (a failed write, a bad file). */
  problem(error: unknown): void;
}
