/**
 * Sessions: one submitted job made from a template, with its lifecycle (DESIGN.md, "Clusters,
 * templates, profiles, sessions"). These shapes are what the agent stores, serves over its HTTP
 * API and streams as events; they never hold a secret (tokens and keys live in 0600 files beside
 * the store, see SessionSecrets).
 */
import type { SessionState } from '../schedulers/types.js';

import type { ParamValue } from '../templates/types.js';

export type { ParamValue };

/** What a client asks for. */
export interface SessionSpec {
  readonly cluster: string;
  readonly template: string;
  readonly params?: Readonly<Record<string, ParamValue>>;
  /** The profile this session was made from, if any (kept for "relaunch" and kernels). */
  readonly profile?: string;
  /**
   * For `kernel` templates: the HMAC key the job's kernel must use, instead of a fresh one. The
   * kernel launcher passes its connection file's key so messages cross unchanged. Never stored
   * in the record; it becomes the session's secret like a generated key.
   */
  readonly kernelKey?: string;
}

/** A service of the session the agent may reach: the only targets its proxy and tunnels allow. */
export interface SessionEndpoint {
  /** "jupyter", "kernel", later "dask-dashboard", "spark-ui"... */
  readonly name: string;
  /** Address as seen from the cluster's login node. */
  readonly host: string;
  readonly port: number;
  /** For HTTP endpoints: the path prefix the service serves under. */
  readonly basePath?: string;
  /** Served behind the job's TLS relay: the agent's forward speaks mutual TLS to it. */
  readonly tls?: EndpointTls;
}

/**
 * What the agent needs to reach an endpoint behind a job's TLS relay: files of the session
 * directory (never their content) and the name the relay's certificate carries.
 */
export interface EndpointTls {
  /** Paths relative to the session directory: the job's CA, the certificate and its key. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** The name the relay's certificate must carry (its node's name). */
  readonly serverName: string;
}

/** What the job wrote into connection.json (never a secret), as the agent read it. */
export interface SessionConnection {
  readonly kind: string;
  readonly node?: string;
  readonly endpoints: readonly SessionEndpoint[];
  /** Kernel ports by channel, for `kernel` sessions (shell, iopub, stdin, control, hb). */
  readonly kernelPorts?: Readonly<Record<string, number>>;
  /** The raw connection.json, less anything that looks secret. */
  readonly raw?: Readonly<Record<string, unknown>>;
}

export interface SessionRecord {
  /** Ours, stable, URL-safe: `s` + 12 hex digits. */
  readonly id: string;
  readonly cluster: string;
  readonly template: string;
  readonly params: Readonly<Record<string, ParamValue>>;
  readonly profile?: string;
  /** Display title, e.g. "JupyterLab on testlab (1 node, 1 h)". */
  readonly title: string;
  /** The batch job's name: `hpcj-<id>`; how the agent finds its jobs again. */
  readonly jobName: string;
  readonly jobId?: string;
  /** Absolute path of the session directory (0700) on the cluster. */
  readonly sessionDir?: string;
  readonly state: SessionState;
  /** Pending reason while queued, failure reason when ended, what went wrong when unknown. */
  readonly reason?: string;
  /** ISO 8601 times. */
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly expectedStart?: string;
  readonly startedAt?: string;
  readonly readyAt?: string;
  readonly endedAt?: string;
  readonly timeLimitMinutes?: number;
  readonly nodes?: readonly string[];
  readonly exitCode?: number;
  readonly connection?: SessionConnection;
  /** Found on the cluster by job name, not created by this store: may be adopted or cancelled. */
  readonly discovered?: boolean;
  /** The last lines of the job's log, kept once the session has ended. */
  readonly logTail?: string;
}

/** Events the agent streams to clients (server-sent events). */
export type AgentEvent =
  | { readonly type: 'session'; readonly session: SessionRecord }
  | { readonly type: 'session-removed'; readonly id: string }
  | { readonly type: 'prompt'; readonly prompt: PromptEvent }
  | { readonly type: 'prompt-answered'; readonly id: string }
  | {
      readonly type: 'cluster';
      readonly cluster: string;
      readonly reachable: boolean;
      readonly error?: string;
    };

/** An interactive question for the user; the first client to answer wins. */
export interface PromptEvent {
  readonly id: string;
  readonly cluster: string;
  readonly kind: 'password' | 'keyboard-interactive' | 'passphrase' | 'host-key';
  /** What to show, e.g. "hpcjtest@login's password:" or the host key fingerprint text. */
  readonly message: string;
  /** For keyboard-interactive: one entry per question. */
  readonly prompts?: readonly { readonly prompt: string; readonly echo: boolean }[];
  /** For host-key: the key's fingerprint ("SHA256:..."). */
  readonly fingerprint?: string;
  readonly createdAt: string;
}

/** A loopback address on this machine that reaches one of a session's endpoints. */
export interface SessionAccess {
  /** e.g. http://127.0.0.1:40123/sessions/s0123456789ab/ for a Jupyter server. */
  readonly url: string;
  readonly localHost: string;
  readonly localPort: number;
  readonly endpoint: SessionEndpoint;
}

/**
 * What a client on this machine needs to use an engine session (Dask, ipyparallel) from outside
 * its job: loopback addresses forwarded through the cluster's SSH connection, and the engine's
 * secret files copied into a private local directory (0700, files 0600). No secret is in the
 * answer itself, only file names.
 */
export interface EngineAttachment {
  readonly id: string;
  /** The engine: "dask", "ipyparallel" or "spark". */
  readonly kind: string;
  /** This session's private local directory holding the files below. */
  readonly directory: string;
  readonly dask?: DaskAttachment;
  readonly ipyparallel?: IpyparallelAttachment;
  readonly spark?: SparkAttachment;
}

export interface DaskAttachment {
  /** The scheduler through its forward, e.g. tls://127.0.0.1:40123. */
  readonly address: string;
  /**
   * The name the scheduler's certificate carries (its node's address) for clients that check
   * it; absent for jobs whose certificate names nothing (then only the per-job CA is checked).
   */
  readonly serverHostname?: string;
  /** The per-job CA, and the certificate and key a client presents (PEM files, 0600). */
  readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string };
  /** The dashboard through its forward, when the job has one. */
  readonly dashboardUrl?: string;
}

export interface IpyparallelAttachment {
  /** A client connection file (with the key, 0600) whose ports are the local forwards. */
  readonly connectionFile: string;
}

export interface SparkAttachment {
  /**
   * The Spark Connect server through its forward, e.g. sc://localhost:40123: "localhost", as
   * pyspark sends a token to that name alone without TLS (over gRPC's local credentials).
   */
  readonly remote: string;
  /** The server's token (0600), for the URL's `/;token=` part. */
  readonly tokenFile: string;
}

export interface WaitOptions {
  readonly signal?: AbortSignal;
  /** Milliseconds; absent waits until the signal fires. */
  readonly timeout?: number;
}

/**
 * The session service the agent exposes (implemented in session-manager.ts). Everything that
 * talks to a cluster is async and cancellable; state changes are announced through `onEvent`.
 */
export interface SessionService {
  list(): readonly SessionRecord[];
  get(id: string): SessionRecord | undefined;
  /** Validates, writes the session's files, submits; resolves once the job is queued. */
  start(spec: SessionSpec, options?: { readonly signal?: AbortSignal }): Promise<SessionRecord>;
  /** Cancels the job; resolves once the scheduler accepted the cancel (state `stopping`). */
  stop(id: string, options?: { readonly signal?: AbortSignal }): Promise<SessionRecord>;
  /**
   * Takes a discovered job into the store as a normal session, with its secret read back from
   * its session directory when it has one of ours.
   */
  adopt(id: string, options?: { readonly signal?: AbortSignal }): Promise<SessionRecord>;
  /** Forgets an ended (or discovered) session locally; never cancels anything. */
  remove(id: string): Promise<void>;
  /** Looks for our jobs on a cluster that the store does not know; returns the new ones. */
  discover(
    cluster: string,
    options?: { readonly signal?: AbortSignal },
  ): Promise<readonly SessionRecord[]>;
  /** The last `lines` lines of the job's log. */
  logs(
    id: string,
    options?: { readonly lines?: number; readonly signal?: AbortSignal },
  ): Promise<string>;
  /** Resolves with the first record (this one included) that satisfies the predicate. */
  waitFor(
    id: string,
    predicate: (s: SessionRecord) => boolean,
    options?: WaitOptions,
  ): Promise<SessionRecord>;
  /** A tunnel to one of the session's endpoints (default: its first), opened once and reused. */
  access(
    id: string,
    endpoint?: string,
    options?: { readonly signal?: AbortSignal },
  ): Promise<SessionAccess>;
  /**
   * Forwards every port a client of the session's engine connects to and copies the engine's
   * client files (TLS files, ipyparallel's client file) into a private local directory.
   */
  attach(id: string, options?: { readonly signal?: AbortSignal }): Promise<EngineAttachment>;
  /** The session's secret for clients on this machine: the Jupyter token or the kernel key. */
  secret(id: string): Promise<string | undefined>;
  /**
   * The Authorization header value (`Bearer <JWS>`, short-lived) the agent's proxy adds to a
   * request for one of the session's web UIs, or undefined when that endpoint needs none
   * (see web-ui-auth.ts). Optional for services that never proxy web UIs.
   */
  webUiAuthorization?(
    id: string,
    endpoint: string,
    options?: { readonly signal?: AbortSignal },
  ): Promise<string | undefined>;
  onEvent(listener: (event: AgentEvent) => void): () => void;
  /** Stops polling and closes tunnels; never cancels jobs. */
  close(): Promise<void>;
}
