/**
 * The agent process: composes configuration, cluster connections (whose SSH questions become
 * prompt events), the session service, templates and the server, then runs until it is idle,
 * asked to shut down, or signalled. Closing stops polling and tunnels but never cancels a job:
 * the next agent reattaches to them.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { ClusterConnections } from '../clusters/connections.js';
import { loadConfig } from '../config/load.js';
import type { Environment } from '../config/paths.js';
import type { LoadedConfig } from '../config/types.js';
import { isFinal } from '../schedulers/types.js';
import type { SessionService } from '../sessions/types.js';
import { BUILTIN_TEMPLATES_DIR } from '../templates/index.js';
import { loadTemplates } from '../templates/template-loader.js';
import { type AgentLog, openAgentLog } from './agent-log.js';
import { AgentPrompter } from './agent-prompter.js';
import { AgentServer } from './agent-server.js';
import { IdleMonitor, idleSecondsFrom } from './idle-monitor.js';
import { agentLogPath, agentSocketPath } from './socket-path.js';
import { createTemplateCatalog, type TemplateCatalog } from './template-catalog.js';

/** What the factories get to build the session service and the template catalog from. */
export interface AgentServices {
  readonly env: Environment;
  readonly config: LoadedConfig;
  readonly clusters: ClusterConnections;
  readonly prompter: AgentPrompter;
  readonly log: AgentLog;
}

export interface RunAgentOptions {
  readonly createSessions: (services: AgentServices) => SessionService | Promise<SessionService>;
  /** Default: the built-in templates, forms with each cluster's site info. */
  readonly createTemplates?: (services: AgentServices) => TemplateCatalog;
  readonly env?: Environment;
  readonly homedir?: string;
  /** Default: loaded from the usual places. */
  readonly config?: LoadedConfig;
  /** Default: agentSocketPath(env). */
  readonly socketPath?: string;
  /** Default: agentLogPath(env, homedir). */
  readonly logFile?: string;
  /** Default: HPC_JUPYTER_AGENT_IDLE_SECONDS, else 600. */
  readonly idleSeconds?: number;
  readonly promptTimeoutMs?: number;
  readonly heartbeatMs?: number;
  /** State root of the `local` scheduler (tests). */
  readonly localStateDir?: string;
  /** Stops the agent like SIGTERM does. */
  readonly signal?: AbortSignal;
  /** Stop on SIGTERM and SIGINT. Default true; tests running in-process turn it off. */
  readonly handleSignals?: boolean;
  readonly onListening?: (server: AgentServer) => void;
}

export type AgentExitReason = 'idle' | 'shutdown' | 'signal' | 'aborted';

export function agentVersion(): string {
  try {
    // The same relative path from src/agent and dist/agent: packages/core/package.json.
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const version = (JSON.parse(text) as { version?: unknown }).version;
    return typeof version === 'string' ? version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Runs the agent until it stops; resolves with why. Throws if it cannot start. */
export async function runAgent(options: RunAgentOptions): Promise<AgentExitReason> {
  const env = options.env ?? process.env;
  const home = options.homedir ?? os.homedir();
  const log = await openAgentLog(options.logFile ?? agentLogPath(env, home));
  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async (): Promise<void> => {
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await step();
      } catch (err) {
        log.error('while stopping', err);
      }
    }
  };
  let stop: (reason: AgentExitReason) => void = () => undefined;
  const stopped = new Promise<AgentExitReason>((resolve) => {
    stop = resolve;
  });
  try {
    const config = options.config ?? (await loadConfig({ env, homedir: home }));
    const prompter = new AgentPrompter({
      ...(options.promptTimeoutMs === undefined ? {} : { timeoutMs: options.promptTimeoutMs }),
      clusterForHost: (host) =>
        [...config.clusters.values()].find((c) => c.ssh?.host === host)?.name ?? host,
    });
    cleanups.push(() => {
      prompter.close();
    });
    const clusters = new ClusterConnections(config, {
      prompter: prompter.prompter,
      ...(options.localStateDir === undefined ? {} : { localStateDir: options.localStateDir }),
    });
    cleanups.push(() => clusters.close());
    const services: AgentServices = { env, config, clusters, prompter, log };
    const sessions = await options.createSessions(services);
    // Stops polling and closes tunnels; the jobs themselves keep running.
    cleanups.push(() => sessions.close());
    // Runs before sessions.close (cleanups run in reverse): a poll stuck at a password prompt
    // is declined at once instead of holding the shutdown until the prompt times out.
    cleanups.push(() => {
      prompter.close();
    });
    const templates = options.createTemplates?.(services) ?? defaultTemplates(services);

    const server = await AgentServer.listen({
      socketPath: options.socketPath ?? agentSocketPath(env),
      sessions,
      config,
      clusters,
      templates,
      prompter,
      version: agentVersion(),
      log,
      requestShutdown: () => {
        stop('shutdown');
      },
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    });
    cleanups.push(() => server.close());

    const idleSeconds = options.idleSeconds ?? idleSecondsFrom(env);
    const idle = new IdleMonitor({
      idleMs: idleSeconds * 1000,
      isBusy: () => server.busy || sessions.list().some((s) => !isFinal(s.state)),
      lastActivity: () => server.lastActivity,
      onIdle: () => {
        stop('idle');
      },
    });
    cleanups.push(() => {
      idle.dispose();
    });
    watchStopSignals(options, stop, cleanups);
    log.info(`agent ${process.pid} started; stops after ${idleSeconds}s idle without sessions`);
    options.onListening?.(server);
    const reason = await stopped;
    log.info(`stopping (${reason})`);
    await cleanup();
    log.info('stopped');
    return reason;
  } catch (err) {
    log.error('agent failed', err);
    await cleanup();
    throw err;
  } finally {
    await log.close();
  }
}

function watchStopSignals(
  options: RunAgentOptions,
  stop: (reason: AgentExitReason) => void,
  cleanups: (() => Promise<void> | void)[],
): void {
  const { signal } = options;
  if (signal !== undefined) {
    const onAbort = (): void => {
      stop('aborted');
    };
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    cleanups.push(() => {
      signal.removeEventListener('abort', onAbort);
    });
  }
  if (options.handleSignals === false) return;
  const onSignal = (): void => {
    stop('signal');
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  cleanups.push(() => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  });
}

function defaultTemplates(services: AgentServices): TemplateCatalog {
  return createTemplateCatalog({
    load: (signal) => loadTemplates(BUILTIN_TEMPLATES_DIR, signal === undefined ? {} : { signal }),
    siteInfo: async (cluster, signal) => {
      try {
        return await services.clusters.get(cluster).scheduler.siteInfo({ signal });
      } catch (err) {
        // The form still works without the site's choices; say why they are missing.
        services.log.warn(`site info for ${cluster} failed: ${String(err)}`);
        return undefined;
      }
    },
  });
}
