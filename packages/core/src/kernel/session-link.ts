/**
 * The launcher's side of the agent: resolve the profile, start (or take over) the session with
 * the connection file's key, leased in the same request (the agent takes a client's key only
 * then), hold that lease for as long as this process lives (renewed if the agent restarts), follow its record, and open the five kernel tunnels. Loaded only after the
 * kernel's ports are bound: it pulls in the config loader and the agent client.
 */
import { AgentClient, type LeaseHandle } from '../agent/agent-client.js';
import { connectAgent } from '../agent/connect-agent.js';
import { agentRuntimeDir } from '../agent/socket-path.js';
import { templatesDir } from '../cli/templates-dir.js';
import { loadConfig } from '../config/load.js';
import type { Environment } from '../config/paths.js';
import type { LoadedCluster, LoadedProfile } from '../config/types.js';
import { AgentError, HpcError } from '../errors.js';
import { isFinal } from '../schedulers/types.js';
import { kernelTemplateFor, kernelTemplateNames } from '../templates/kernel-template.js';
import { loadTemplates } from '../templates/template-loader.js';
import type { AgentStreamEvent } from '../agent/api-types.js';
import type { PromptEvent, SessionRecord, SessionSpec } from '../sessions/types.js';
import { CHANNELS, type Channel } from './connection-info.js';
import type { RemoteEndpoints } from './remote-kernel.js';

/** The session's endpoint name for each kernel channel (see sessions/connection-file.ts). */
export const ENDPOINT_OF: Readonly<Record<Channel, string>> = {
  shell: 'kernel',
  iopub: 'kernel-iopub',
  stdin: 'kernel-stdin',
  control: 'kernel-control',
  hb: 'kernel-hb',
};

export interface ResolvedProfile {
  readonly profile: LoadedProfile;
  readonly cluster: LoadedCluster;
  /** The kernel template the job runs: the profile's, or for an engine (`spark`) its kernel. */
  readonly template: string;
}

export async function resolveProfile(name: string, env: Environment): Promise<ResolvedProfile> {
  const config = await loadConfig({ env });
  const profile = config.profiles.get(name);
  if (profile === undefined) {
    const problem = config.problems.find((p) => p.message.includes(`profiles.${name}`));
    if (problem !== undefined) throw problem;
    const known = [...config.profiles.keys()];
    throw new HpcError(`No profile named "${name}" in the hpc-jupyter configuration.`, {
      hint:
        known.length > 0
          ? `Profiles: ${known.join(', ')}. Reinstall the kernel with \`hpc-jupyter kernelspec install PROFILE\`.`
          : 'Create one with `hpc-jupyter kernelspec install --cluster C --template kernel --name "..."`.',
    });
  }
  const cluster = config.clusters.get(profile.cluster);
  if (cluster === undefined) {
    throw new HpcError(
      `The profile "${name}" names the cluster "${profile.cluster}", which is not configured.`,
    );
  }
  return { profile, cluster, template: await kernelTemplateOf(profile, env) };
}

/**
 * The profile's template when it starts a kernel; for an engine (`template: spark`, as written
 * by hand), the kernel template composed with it (`spark-kernel`). Only then are the templates
 * read: the plain kernel needs no look.
 */
async function kernelTemplateOf(profile: LoadedProfile, env: Environment): Promise<string> {
  if (profile.template === 'kernel') return profile.template;
  const templates = await loadTemplates(templatesDir(env));
  const template = kernelTemplateFor(templates, profile.template);
  if (template !== undefined) return template.name;
  const named = templates.get(profile.template);
  throw new HpcError(
    named === undefined
      ? `The profile "${profile.name}" names the template "${profile.template}", which does not exist.`
      : `The profile "${profile.name}" names the template "${profile.template}", which starts a ${named.kind}, not a kernel.`,
    { hint: `Kernel templates: ${kernelTemplateNames(templates).join(', ')}.` },
  );
}

export function specFor(resolved: ResolvedProfile, kernelKey: string): SessionSpec {
  const { profile } = resolved;
  return {
    cluster: profile.cluster,
    template: resolved.template,
    params: { ...(profile.params ?? {}) },
    profile: profile.name,
    kernelKey,
  };
}

/** `<agent runtime dir>/kernels`: where launchers leave state for their restarted selves. */
export function kernelStateDir(env: Environment): string {
  return `${agentRuntimeDir(env)}/kernels`;
}

export class SessionLink {
  private lease: LeaseHandle | undefined;
  /** The session `lease` is on. */
  private leased: string | undefined;
  private readonly closing = new AbortController();
  /** The latest record of every session the event stream showed. */
  private readonly records = new Map<string, SessionRecord>();
  private readonly prompts = new Map<string, PromptEvent>();
  private followed:
    { readonly id: string; readonly onRecord: (record: SessionRecord) => void } | undefined;

  private constructor(
    private client: AgentClient,
    private readonly env: Environment,
    private readonly onProblem: (message: string) => void,
  ) {}

  static async connect(
    env: Environment,
    onProblem: (message: string) => void,
  ): Promise<SessionLink> {
    const client = await connectAgent({ start: true, env });
    return new SessionLink(client, env, onProblem);
  }

  /**
   * Starts the session. With a kernel key it is leased from the start: the agent refuses a
   * client's key otherwise, and a launcher killed before `hold` still gets its job cancelled.
   */
  async start(spec: SessionSpec): Promise<SessionRecord> {
    if (spec.kernelKey === undefined) return this.client.startSession(spec);
    const { record, lease } = await this.client.startLeasedSession(spec);
    this.keep(record.id, lease);
    return record;
  }

  /** The session if the agent has it and it has not ended. */
  async live(id: string): Promise<SessionRecord | undefined> {
    try {
      const record = await this.client.session(id);
      return isFinal(record.state) ? undefined : record;
    } catch (error) {
      if (error instanceof AgentError && error.status === 404) return undefined;
      throw error;
    }
  }

  /**
   * Leases the session for this process's life. If the agent goes away (it restarted), the
   * lease is taken again from the next one; `release()` ends it for good.
   */
  async hold(id: string): Promise<void> {
    // Started here with its lease: that one is held (and renewed) already.
    if (this.leased === id && this.lease !== undefined) return;
    this.keep(id, await this.client.lease(id));
  }

  private keep(id: string, lease: LeaseHandle): void {
    this.lease?.release();
    this.lease = lease;
    this.leased = id;
    void this.renewLoop(id, lease);
  }

  /** Keeps the session through this launcher's exit for `seconds` (a restart is under way). */
  async keepFor(id: string, seconds: number): Promise<void> {
    await this.client.holdSession(id, seconds);
  }

  stop(id: string, signal?: AbortSignal): Promise<SessionRecord> {
    return this.client.stopSession(id, signal === undefined ? {} : { signal });
  }

  /**
   * Follows the agent's events until `close()`: the records of sessions (for `follow`) and the
   * SSH prompts waiting for an answer on `cluster` (a submission waits for them).
   */
  watch(cluster: string): void {
    const signal = this.closing.signal;
    void (async () => {
      while (!this.closed()) {
        await this.client
          .events((event) => {
            this.onEvent(event, cluster);
          }, signal)
          .catch((error: unknown) => {
            this.onProblem(`the agent's event stream failed: ${describe(error)}`);
          });
        if (!this.closed()) await sleep(1000);
      }
    })();
  }

  /** Calls `onRecord` with the session's record now (if known) and on every change. */
  follow(id: string, onRecord: (record: SessionRecord) => void): void {
    this.followed = { id, onRecord };
    const known = this.records.get(id);
    if (known !== undefined) onRecord(known);
  }

  /** The message of an SSH prompt for the cluster that nobody has answered yet. */
  pendingPrompt(): string | undefined {
    return [...this.prompts.values()][0]?.message;
  }

  private onEvent(event: AgentStreamEvent, cluster: string): void {
    const records: SessionRecord[] = [];
    if (event.type === 'snapshot') {
      this.prompts.clear();
      for (const p of event.prompts) if (p.cluster === cluster) this.prompts.set(p.id, p);
      records.push(...event.sessions);
    } else if (event.type === 'session') {
      records.push(event.session);
    } else if (event.type === 'prompt' && event.prompt.cluster === cluster) {
      this.prompts.set(event.prompt.id, event.prompt);
    } else if (event.type === 'prompt-answered') {
      this.prompts.delete(event.id);
    }
    for (const record of records) {
      this.records.set(record.id, record);
      if (record.id === this.followed?.id) this.followed.onRecord(record);
    }
  }

  /** Tunnels to the kernel's five ports, as ZeroMQ addresses on this machine. */
  async endpoints(id: string): Promise<RemoteEndpoints> {
    const pairs = await Promise.all(
      CHANNELS.map(async (channel) => {
        const access = await this.client.access(id, { endpoint: ENDPOINT_OF[channel] });
        const host = access.localHost.includes(':') ? `[${access.localHost}]` : access.localHost;
        return [channel, `tcp://${host}:${access.localPort}`] as const;
      }),
    );
    return Object.fromEntries(pairs) as Record<Channel, string>;
  }

  /** Ends the lease and the event stream. */
  close(): void {
    this.closing.abort();
    this.lease?.release();
    this.lease = undefined;
    this.leased = undefined;
  }

  private closed(): boolean {
    return this.closing.signal.aborted;
  }

  private async renewLoop(id: string, first: LeaseHandle): Promise<void> {
    let current = first;
    for (;;) {
      await current.lost;
      // Closed, or replaced by another lease (whose own loop renews it).
      if (this.closed() || this.lease !== current) return;
      this.onProblem('lost the lease on the session (the agent went away); taking it again');
      for (;;) {
        if (this.closed()) return;
        try {
          this.client = await connectAgent({ start: true, env: this.env });
          current = await this.client.lease(id);
          this.lease = current;
          break;
        } catch (error) {
          this.onProblem(`could not lease the session again: ${describe(error)}`);
          await sleep(2000);
        }
      }
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function describe(error: unknown): string {
  if (error instanceof HpcError) return error.describe();
  return error instanceof Error ? error.message : String(error);
}

/** What the launcher needs of the agent; `agentBackend` is the real one, tests give their own. */
export interface LauncherBackend {
  readonly clusterName: string;
  /** The cluster's scheduler kind, for messages ("Slurm job 1234"). */
  readonly scheduler: string;
  readonly displayName: string;
  /** Submits a new session whose kernel uses `kernelKey`. */
  start(kernelKey: string): Promise<SessionRecord>;
  /** The session if it exists and has not ended. */
  live(id: string): Promise<SessionRecord | undefined>;
  /** Leases the session for this process's life. */
  lease(id: string): Promise<void>;
  /** Keeps the session through this process's exit for `seconds`. */
  keepFor(id: string, seconds: number): Promise<void>;
  stop(id: string): Promise<unknown>;
  follow(id: string, onRecord: (record: SessionRecord) => void): void;
  /** An SSH prompt for the cluster that waits for an answer (the submission waits for it). */
  pendingPrompt?(): string | undefined;
  endpoints(id: string): Promise<RemoteEndpoints>;
  /** Ends the lease and the event stream. */
  close(): void;
}

export async function agentBackend(
  profileName: string,
  env: Environment,
  onProblem: (message: string) => void,
): Promise<LauncherBackend> {
  const resolved = await resolveProfile(profileName, env);
  const link = await SessionLink.connect(env, onProblem);
  link.watch(resolved.cluster.name);
  return {
    clusterName: resolved.cluster.name,
    scheduler: resolved.cluster.scheduler,
    displayName: resolved.profile.displayName,
    start: (kernelKey) => link.start(specFor(resolved, kernelKey)),
    live: (id) => link.live(id),
    lease: (id) => link.hold(id),
    keepFor: (id, seconds) => link.keepFor(id, seconds),
    stop: (id) => link.stop(id),
    follow: (id, onRecord) => {
      link.follow(id, onRecord);
    },
    pendingPrompt: () => link.pendingPrompt(),
    endpoints: (id) => link.endpoints(id),
    close: () => {
      link.close();
    },
  };
}
