/**
 * The shapes of cluster and profile configuration after validation. The JSON schema in
 * `schema/clusters.schema.json` describes the same shapes for editors and for ajv; keep the two in
 * step (schema.test.ts pins the schema's key lists, parse.test.ts reads every key into these).
 */

import type { ConfigError } from '../errors.js';
import type { SchedulerKind } from '../schedulers/types.js';

/** How to reach a cluster's login node. Values override the user's ~/.ssh/config. */
export interface SshConfig {
  /** A Host alias from ~/.ssh/config, a host name or an address. */
  readonly host: string;
  readonly port?: number;
  readonly user?: string;
  /** May start with `~` (this machine's home): expand with `expandHome` when used. */
  readonly identityFile?: string;
  readonly proxyJump?: string;
  /** May start with `~` (this machine's home). */
  readonly knownHostsFile?: string;
  /** May start with `~` (this machine's home). */
  readonly configFile?: string;
  readonly keepaliveSeconds?: number;
}

/** Batch-system names jobs use unless a profile or form says otherwise. */
export interface ClusterDefaults {
  readonly partition?: string;
  readonly account?: string;
  readonly qos?: string;
}

export interface ClusterConfig {
  /** The key the cluster is defined under. */
  readonly name: string;
  readonly title?: string;
  readonly scheduler: SchedulerKind;
  /** With `scheduler: pbs`: PBS Pro/OpenPBS or Torque. Default: pbspro. */
  readonly pbsFlavor?: 'pbspro' | 'torque';
  /** Absent: commands run on this machine. */
  readonly ssh?: SshConfig;
  /** On the cluster; `~` there means the cluster-side home, so it is never expanded here. */
  readonly workdir?: string;
  readonly python?: string;
  /** Shell lines run at the start of every job on this cluster. */
  readonly prologue?: string;
  readonly defaults?: ClusterDefaults;
}

export type ProfileParamValue = string | number | boolean;

export interface ProfileConfig {
  /** The key the profile is defined under. */
  readonly name: string;
  readonly displayName: string;
  readonly cluster: string;
  readonly template: string;
  readonly params?: Readonly<Record<string, ProfileParamValue>>;
}

/** Where a loaded entry came from, for messages ("defined in ..."). */
export interface EntrySource {
  /** The file the entry was read from, or BUILTIN_SOURCE. */
  readonly source: string;
  /** 1-based line of the entry's key in that file. */
  readonly line?: number;
}

export type LoadedCluster = ClusterConfig & EntrySource;
export type LoadedProfile = ProfileConfig & EntrySource;

export interface LoadedConfig {
  readonly clusters: ReadonlyMap<string, LoadedCluster>;
  readonly profiles: ReadonlyMap<string, LoadedProfile>;
  /** Everything wrong, in source order. Entries with problems are left out of the maps. */
  readonly problems: readonly ConfigError[];
  /** The files that were read, lowest precedence first. */
  readonly sources: readonly string[];
}

/** The `source` of entries that no file defined (the embedded `local` cluster). */
export const BUILTIN_SOURCE = '<built-in>';

/** Cluster and profile names, as in the schema's `definitions.name`. */
export const NAME_PATTERN = /^[a-z0-9][a-z0-9_-]{0,62}$/;
