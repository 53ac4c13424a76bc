/**
 * Starts a real AgentServer on a real unix socket in a fresh temporary runtime directory, wired
 * to a FakeSessionService, fake clusters and templates, for the agent's unit tests (and for
 * front ends that want to test against a live API without a cluster).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { mergeConfigFiles } from '../config/load.js';
import type { LoadedConfig } from '../config/types.js';
import type { SiteInfo } from '../schedulers/types.js';
import { AgentClient } from './agent-client.js';
import { AgentPrompter } from './agent-prompter.js';
import { AgentServer } from './agent-server.js';
import { FakeSessionService } from './fake-session-service.js';
import type { AgentClusterSource } from './routes.js';
import { agentSocketPath } from './socket-path.js';
import type { TemplateCatalog } from './template-catalog.js';

export const FAKE_SITE: SiteInfo = {
  partitions: [{ name: 'debug', isDefault: true, available: true, maxNodes: 2 }],
  accounts: ['proj1'],
  qos: [],
  user: 'ada',
};

export const fakeClusters: AgentClusterSource = {
  get: () => ({ scheduler: { siteInfo: () => Promise.resolve(FAKE_SITE) } }),
};

export const fakeTemplates: TemplateCatalog = {
  list: () =>
    Promise.resolve([{ name: 'jupyter', title: 'JupyterLab', description: 'Lab', kind: 'server' }]),
  form: (name, cluster) =>
    Promise.resolve({
      name,
      title: `${name} on ${cluster}`,
      description: '',
      kind: 'server',
      schema: { type: 'object', properties: {}, additionalProperties: false },
      partitionLimits: {},
    }),
};

export interface TestAgent {
  readonly dir: string;
  readonly env: Record<string, string>;
  readonly socketPath: string;
  readonly server: AgentServer;
  readonly sessions: FakeSessionService;
  readonly prompter: AgentPrompter;
  readonly client: AgentClient;
  /** How often POST /v1/shutdown was answered. */
  shutdownRequests: number;
  close(): Promise<void>;
}

export interface TestAgentOptions {
  readonly sessions?: FakeSessionService;
  readonly prompter?: AgentPrompter;
  readonly clusters?: AgentClusterSource;
  readonly templates?: TemplateCatalog;
  readonly config?: LoadedConfig;
  readonly heartbeatMs?: number;
  /** Header and request timeouts (see AgentServerOptions), for slow-client tests. */
  readonly timeouts?: { readonly headersMs: number; readonly requestMs: number };
}

/** Only the built-in `local` cluster, as with no config files at all. */
export function emptyConfig(): LoadedConfig {
  return mergeConfigFiles([]);
}

export async function startTestAgent(options: TestAgentOptions = {}): Promise<TestAgent> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-agent-'));
  const env = { XDG_RUNTIME_DIR: dir };
  const socketPath = agentSocketPath(env);
  const sessions = options.sessions ?? new FakeSessionService();
  const prompter = options.prompter ?? new AgentPrompter({ timeoutMs: 10_000 });
  const state = { shutdownRequests: 0 };
  const server = await AgentServer.listen({
    socketPath,
    sessions,
    config: options.config ?? emptyConfig(),
    clusters: options.clusters ?? fakeClusters,
    templates: options.templates ?? fakeTemplates,
    prompter,
    version: '0.0.0-test',
    requestShutdown: () => {
      state.shutdownRequests++;
    },
    ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
  });
  return {
    dir,
    env,
    socketPath,
    server,
    sessions,
    prompter,
    client: new AgentClient(socketPath),
    get shutdownRequests() {
      return state.shutdownRequests;
    },
    async close() {
      prompter.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
