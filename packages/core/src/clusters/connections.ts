/**
 * Opens clusters: from a cluster's configuration to its transport and scheduler adapter. Owns one
 * transport per cluster, so every command, file and tunnel to a cluster shares one SSH connection
 * (one MFA prompt, not one per operation), and closes them all on `close()`.
 */
import type { LoadedConfig, ClusterConfig } from '../config/types.js';
import { InvalidInputError } from '../errors.js';
import { LocalTransport } from '../transport/local.js';
import { SshTransport } from '../transport/ssh.js';
import type { SshPrompter } from '../transport/ssh-options.js';
import type { Transport } from '../transport/types.js';
import { LocalScheduler } from '../schedulers/local.js';
import { SlurmScheduler } from '../schedulers/slurm.js';
import { HtcondorScheduler } from '../schedulers/htcondor/adapter.js';
import { LsfScheduler } from '../schedulers/lsf/adapter.js';
import { PbsScheduler } from '../schedulers/pbs/adapter.js';
import type { Scheduler } from '../schedulers/types.js';
import { expandHome } from '../config/paths.js';
import { homedir } from 'node:os';

export interface OpenCluster {
  readonly config: ClusterConfig;
  readonly transport: Transport;
  readonly scheduler: Scheduler;
}

export interface ClusterConnectionsOptions {
  /** Answers SSH prompts (passwords, MFA codes, passphrases, unknown host keys). */
  readonly prompter: SshPrompter;
  /** State root of the `local` scheduler (tests point it at a temporary directory). */
  readonly localStateDir?: string;
}

export class ClusterConnections {
  private readonly open = new Map<string, OpenCluster>();

  constructor(
    private readonly config: LoadedConfig,
    private readonly options: ClusterConnectionsOptions,
  ) {}

  /** The cluster's configuration, or a clear error naming the clusters that exist. */
  clusterConfig(name: string): ClusterConfig {
    const cluster = this.config.clusters.get(name);
    if (cluster !== undefined) return cluster;
    const entry = `clusters.${name}`;
    const problem = this.config.problems.find(
      (p) => p.keyPath === entry || p.keyPath?.startsWith(`${entry}.`) === true,
    );
    // The cluster was defined but its entry is invalid: that problem is the answer.
    if (problem !== undefined) throw problem;
    const known = [...this.config.clusters.keys()].join(', ');
    throw new InvalidInputError(`No cluster named "${name}".`, {
      hint: `Known clusters: ${known}. Add one to ~/.config/hpc-jupyter/clusters.yaml.`,
    });
  }

  /** The open cluster, connecting lazily: SSH connects on the first command. */
  get(name: string): OpenCluster {
    const existing = this.open.get(name);
    if (existing !== undefined) return existing;
    const config = this.clusterConfig(name);
    const transport = this.makeTransport(config);
    const opened: OpenCluster = {
      config,
      transport,
      scheduler: this.makeScheduler(config, transport),
    };
    this.open.set(name, opened);
    return opened;
  }

  async close(): Promise<void> {
    const all = [...this.open.values()];
    this.open.clear();
    await Promise.allSettled(all.map((c) => c.transport.close()));
  }

  private makeTransport(config: ClusterConfig): Transport {
    if (config.ssh === undefined) return new LocalTransport();
    const home = homedir();
    const ssh = config.ssh;
    return new SshTransport(
      {
        host: ssh.host,
        ...(ssh.port === undefined ? {} : { port: ssh.port }),
        ...(ssh.user === undefined ? {} : { user: ssh.user }),
        ...(ssh.identityFile === undefined
          ? {}
          : { identityFile: expandHome(ssh.identityFile, home) }),
        ...(ssh.proxyJump === undefined ? {} : { proxyJump: ssh.proxyJump }),
        ...(ssh.knownHostsFile === undefined
          ? {}
          : { knownHostsFile: expandHome(ssh.knownHostsFile, home) }),
        ...(ssh.configFile === undefined ? {} : { configFile: expandHome(ssh.configFile, home) }),
        ...(ssh.keepaliveSeconds === undefined ? {} : { keepaliveSeconds: ssh.keepaliveSeconds }),
      },
      { prompter: this.options.prompter },
    );
  }

  private makeScheduler(config: ClusterConfig, transport: Transport): Scheduler {
    if (config.pbsFlavor !== undefined && config.scheduler !== 'pbs') {
      throw new InvalidInputError(
        `Cluster "${config.name}" sets pbsFlavor, but its scheduler is ${config.scheduler}.`,
        { hint: 'Remove pbsFlavor, or set scheduler: pbs.' },
      );
    }
    switch (config.scheduler) {
      case 'slurm':
        return new SlurmScheduler(transport, { clusterName: config.name });
      case 'local':
        if (config.ssh !== undefined) {
          throw new InvalidInputError(
            `Cluster "${config.name}" uses the local scheduler over SSH, which runs jobs only on this machine.`,
            { hint: 'Remove its ssh section, or choose the batch system the cluster runs.' },
          );
        }
        return new LocalScheduler(
          this.options.localStateDir === undefined ? {} : { stateDir: this.options.localStateDir },
        );
      case 'pbs':
        return new PbsScheduler(transport, {
          clusterName: config.name,
          flavor: config.pbsFlavor ?? 'pbspro',
        });
      case 'lsf':
        return new LsfScheduler(transport, { clusterName: config.name });
      case 'htcondor':
        return new HtcondorScheduler(transport, { clusterName: config.name });
    }
  }
}
