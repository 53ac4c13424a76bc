/**
 * The extension activated against a real agent server on a real unix socket, with the core's
 * in-memory session service behind it (no cluster) and the fake VS Code API in front: what the
 * unit tests of the provider, the commands and the prompts drive. The agent can be stopped and
 * started again on the same socket with the same sessions, like an agent restart.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connectAgent, type TemplateForm, type TemplateSummary } from '@hpc-jupyter/core';
import { startTestAgent, type TestAgent } from '../../core/src/agent/agent-test-harness.js';
import { AgentServer } from '../../core/src/agent/agent-server.js';
import type { TemplateCatalog } from '../../core/src/agent/template-catalog.js';
import { fakeRecord } from '../../core/src/agent/fake-session-service.js';
import { loadConfig } from '../../core/src/config/load.js';
import type { SessionRecord } from '../../core/src/sessions/types.js';
import { activateExtension, type HpcJupyterApi } from './activate';
import { FakeVscode } from './fake-vscode.testutil';

export const CONFIG_YAML = `clusters:
  lab:
    title: The lab cluster
    scheduler: slurm
    ssh: { host: login.lab.example }
profiles:
  lab2:
    displayName: Lab 2-node JupyterLab
    cluster: lab
    template: jupyter
    params: { nodes: 2, hours: 2 }
  labkernel:
    displayName: Lab Python kernel
    cluster: lab
    template: kernel
`;

const TEMPLATES: readonly TemplateSummary[] = [
  { name: 'jupyter', title: 'JupyterLab', description: 'JupyterLab on a node', kind: 'server' },
  { name: 'kernel', title: 'Python kernel', description: 'One kernel', kind: 'kernel' },
];

/** A launch form like the real `jupyter` one: partitions from the site, bounds per partition. */
export function jupyterForm(cluster: string): TemplateForm {
  return {
    name: 'jupyter',
    title: 'JupyterLab',
    description: `JupyterLab on ${cluster}`,
    kind: 'server',
    schema: {
      type: 'object',
      additionalProperties: false,
      properties: {
        partition: {
          type: 'string',
          title: 'Partition',
          description: 'The batch queue.',
          enum: ['debug', 'short'],
          default: 'debug',
          'x-options': 'partitions',
        },
        hours: {
          type: 'number',
          title: 'Hours',
          description: 'How long.',
          default: 1,
          minimum: 0.1,
          maximum: 8,
        },
        nodes: {
          type: 'integer',
          title: 'Nodes',
          description: 'Nodes.',
          default: 1,
          minimum: 1,
          maximum: 4,
        },
        email: {
          type: 'string',
          title: 'E-mail when started',
          description: 'Mail.',
          pattern: '^[^@]+@[^@]+$',
          patternErrorMessage: 'an e-mail address',
        },
      },
    },
    partitionParam: 'partition',
    partitionLimits: { debug: { nodes: { maximum: 4 } }, short: { hours: { maximum: 0.5 } } },
  };
}

export const TEST_TEMPLATES: TemplateCatalog = {
  list: () => Promise.resolve(TEMPLATES),
  form: (_name, cluster) => Promise.resolve(jupyterForm(cluster)),
};

/** A ready Jupyter session whose endpoint is on 127.0.0.1:`port`. */
export function readyJupyter(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return fakeRecord(id, {
    cluster: 'lab',
    state: 'ready',
    jobId: '1234',
    title: `JupyterLab ${id}`,
    readyAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    timeLimitMinutes: 60,
    nodes: ['node1'],
    connection: {
      kind: 'jupyter',
      endpoints: [{ name: 'jupyter', host: '127.0.0.1', port: 8888, basePath: `/sessions/${id}/` }],
    },
    ...overrides,
  });
}

export interface Fixture {
  readonly fake: FakeVscode;
  readonly agent: TestAgent;
  readonly api: HpcJupyterApi;
  readonly context: ReturnType<FakeVscode['context']>;
  /** Stops the agent's server (its sessions stay in the fake service). */
  stopAgent(): Promise<void>;
  /** Listens again on the same socket, with the same sessions. */
  restartAgent(): Promise<void>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  /** Runs before activation (seed sessions, global state, settings). */
  readonly before?: (fake: FakeVscode, agent: TestAgent) => void | Promise<void>;
  /** Wait for the first snapshot. Default true. */
  readonly waitLoaded?: boolean;
  readonly now?: () => number;
  readonly context?: ReturnType<FakeVscode['context']>;
  /** More environment for the extension (JUPYTER_DATA_DIR, say). */
  readonly env?: Readonly<Record<string, string>>;
}

export async function activateWithTestAgent(options: FixtureOptions = {}): Promise<Fixture> {
  const fake = new FakeVscode();
  let agent = await startTestAgent({ templates: TEST_TEMPLATES });
  const configFile = path.join(agent.dir, 'clusters.yaml');
  await writeFile(configFile, CONFIG_YAML);
  const env = { ...agent.env, HPC_JUPYTER_CONFIG: configFile, ...options.env };
  const config = await loadConfig({ env });
  // The harness's server has no config of ours: listen again with it.
  await agent.server.close();
  let server = await listen(agent, config);
  agent = { ...agent, server };
  await options.before?.(fake, agent);
  const context = options.context ?? fake.context();
  const api = await activateExtension(fake.vs, context, {
    env,
    runtime: { execPath: process.execPath, isElectron: false, bundledCli: '/nonexistent.js' },
    // Never spawns an agent in the unit tier: a missing agent stays missing.
    connect: ({ signal }) =>
      connectAgent({
        start: false,
        socketPath: agent.socketPath,
        ...(signal === undefined ? {} : { signal }),
      }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  if (options.waitLoaded !== false) {
    if (!(await api.model.whenLoaded(5000))) throw new Error('no snapshot from the test agent');
    await until(() => api.model.catalog.templates.length > 0);
  }
  let stopped = false;
  return {
    fake,
    agent,
    api,
    context,
    async stopAgent() {
      stopped = true;
      await server.close();
    },
    async restartAgent() {
      server = await listen(agent, config);
      stopped = false;
    },
    async close() {
      for (const d of context.subscriptions.splice(0).reverse()) await d.dispose();
      await api.connection.dispose();
      if (!stopped) await server.close();
      await agent.close();
    },
  };
}

function listen(
  agent: TestAgent,
  config: Awaited<ReturnType<typeof loadConfig>>,
): Promise<AgentServer> {
  return AgentServer.listen({
    socketPath: agent.socketPath,
    sessions: agent.sessions,
    config,
    clusters: {
      get: () => ({ scheduler: { siteInfo: () => Promise.reject(new Error('no site')) } }),
    },
    templates: TEST_TEMPLATES,
    prompter: agent.prompter,
    version: '0.0.0-test',
    requestShutdown: () => undefined,
  });
}

/** Polls `predicate` until it holds (or fails the test after `timeoutMs`). */
export async function until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
