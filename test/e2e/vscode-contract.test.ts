/**
 * The VS Code extension's Jupyter server collection, driven exactly as the Jupyter extension
 * drives it (provideJupyterServers, resolveJupyterServer for a server without connection
 * information, provideCommands/handleCommand for a new one), with a fake `vscode` whose quick
 * picks answer from a script, against a private agent, real JupyterLab and the real Slurm test
 * cluster. The returned baseUrl and token are used with @jupyterlab/services like the Jupyter
 * extension uses them: list the kernelspecs, start a kernel on a compute node, run code. After an
 * agent restart the same server ids come back and resolve.
 */
import { KernelSpecManager } from '@jupyterlab/services';
import type { JupyterServer, JupyterServerCommandProvider } from '@vscode/jupyter-extension';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activateExtension, type HpcJupyterApi } from '../../packages/vscode-ext/src/activate.js';
import {
  FakeVscode,
  noToken,
  pickExact,
  pickLabel,
} from '../../packages/vscode-ext/src/fake-vscode.testutil.js';
import { START_LABEL } from '../../packages/vscode-ext/src/form-quick-pick.js';
import { START_COMMAND_LABEL } from '../../packages/vscode-ext/src/server-provider.js';
import { executeOnServer } from './jupyter-client.js';
import { serverSettingsFor } from './jupyter-server.js';
import { CLI, cli, inSqueue, waitLeftSqueue, privateAgentEnv, testCluster } from './support.js';

let env: Record<string, string>;
let fake: FakeVscode;
let context: ReturnType<FakeVscode['context']>;
let api: HpcJupyterApi;
/** What beforeAll set up, undone in reverse by afterAll: only what was actually made. */
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
  fake = new FakeVscode();
  // The agent as an installed `hpc-jupyter` would run it (hpcJupyter.command).
  fake.config.set('hpcJupyter.command', [process.execPath, CLI]);
  context = fake.context();
  const t0 = performance.now();
  api = await activateExtension(fake.vs, context, {
    env: { ...process.env, ...env },
    runtime: { execPath: process.execPath, isElectron: false, bundledCli: '/not/used.js' },
  });
  console.log(`activation: ${(performance.now() - t0).toFixed(0)} ms`);
  cleanups.push(
    () => cli(['agent', 'stop'], env),
    () => api.connection.dispose(),
    async () => {
      for (const d of context.subscriptions.splice(0).reverse()) await d.dispose();
    },
    // Every session of this private agent is this file's: leave no job behind, whatever failed.
    async () => {
      for (const record of api.model.sessions) {
        if (!['completed', 'failed', 'cancelled', 'timed-out'].includes(record.state)) {
          await cli(['stop', record.id], env);
        }
      }
    },
  );
});

afterAll(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The kernelspecs of a Jupyter server, listed the way the Jupyter extension lists them. */
async function kernelspecNames(baseUrl: string, token: string): Promise<string[]> {
  const serverSettings = serverSettingsFor(baseUrl, token);
  const manager = new KernelSpecManager({ serverSettings });
  try {
    await manager.ready;
    await manager.refreshSpecs();
    return Object.keys(manager.specs?.kernelspecs ?? {});
  } finally {
    manager.dispose();
  }
}

function connection(server: JupyterServer): { baseUrl: string; token: string } {
  const info = server.connectionInformation;
  if (info === undefined) throw new Error(`server ${server.id} has no connection information`);
  return { baseUrl: info.baseUrl.toString(), token: info.token ?? '' };
}

describe('the HPC clusters collection, as the Jupyter extension uses it', () => {
  let server: JupyterServer;

  it('starts a JupyterLab job from its command, with progress, and returns it once ready', async () => {
    const provider = fake.collections[0]?.provider;
    expect(provider).toBe(api.provider);
    expect(fake.collections[0]?.commandProvider).toBe(api.provider);
    expect(await api.provider.provideJupyterServers(noToken())).toEqual([]);

    // Called through the interface, with the arguments the Jupyter extension passes.
    const commandProvider: JupyterServerCommandProvider = api.provider;
    const commands = (await commandProvider.provideCommands(undefined, noToken())) ?? [];
    expect(commands.map((c) => c.label)).toContain(START_COMMAND_LABEL);
    let form: string[] = [];
    fake.quickPickScripts.push(
      pickExact('testlab'),
      pickExact('JupyterLab'),
      (items, options) => {
        form = items.map((i) => `${i.label}=${i.description ?? ''}`);
        expect(options?.title).toContain('on testlab');
        return items.find((i) => i.label === 'Hours');
      },
      pickLabel(START_LABEL),
    );
    fake.inputScripts.push((options) => {
      // The real form: the partition's limits and the template's bounds.
      expect(options?.prompt).toMatch(/\(0\.1 to \d+/);
      return '1';
    });
    let listedWhenAnnounced: string[] | undefined;
    const announced = api.provider.onDidChangeServers(() => {
      void Promise.resolve(api.provider.provideJupyterServers(noToken())).then((s) => {
        listedWhenAnnounced ??= s.map((x) => x.id);
      });
    });
    const t0 = performance.now();
    server = await api.provider.handleCommand({ label: START_COMMAND_LABEL }, noToken());
    console.log(`handleCommand to a ready server: ${(performance.now() - t0).toFixed(0)} ms`);
    announced.dispose();

    expect(form.find((l) => l.startsWith('Partition='))).toBe('Partition=debug');
    expect(server.id).toMatch(/^s[0-9a-f]{12}$/);
    const record = api.model.session(server.id);
    expect(record?.state).toBe('ready');
    expect(record?.params).toMatchObject({ hours: 1, partition: 'debug' });
    expect(server.label).toBe(`${record?.title ?? ''} · job ${record?.jobId ?? ''}`);
    const progress = fake.progress[0];
    expect(progress?.done).toBe(true);
    expect(progress?.messages.some((m) => m.startsWith(`Job ${record?.jobId ?? ''}: `))).toBe(true);
    await until(() => listedWhenAnnounced !== undefined, 5000, 'onDidChangeServers');
    expect(listedWhenAnnounced).toContain(server.id);
    expect(connection(server).baseUrl).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:\\d+/sessions/${server.id}/$`),
    );
    // The test cluster is shared: the job may wait in the queue behind others' jobs.
  }, 600_000);

  it('lists the server, resolves it without UI, and runs code on a compute node through it', async () => {
    const listed = await api.provider.provideJupyterServers(noToken());
    expect(listed.map((s) => s.id)).toEqual([server.id]);
    expect(listed[0]?.connectionInformation).toBeUndefined();
    const before = { quickPicks: fake.quickPickCalls.length, inputs: fake.inputCalls.length };
    const resolved = await api.provider.resolveJupyterServer(listed[0] as JupyterServer, noToken());
    expect({ quickPicks: fake.quickPickCalls.length, inputs: fake.inputCalls.length }).toEqual(
      before,
    );
    const { baseUrl, token } = connection(resolved);
    expect(token).not.toBe('');

    expect(await kernelspecNames(baseUrl, token)).toContain('python3');
    const result = await executeOnServer(
      baseUrl,
      token,
      'import socket; print(socket.gethostname())',
    );
    expect(result.status).toBe('ok');
    const host = result.stdout.trim();
    expect(host).toMatch(/^node[1-4]$/);
    expect(api.model.session(server.id)?.nodes).toEqual([host]);
  });

  it('shows the session in the HPC view with its state and time left', () => {
    const tree = fake.treeViews.get('hpcJupyter.sessions');
    if (tree === undefined) throw new Error('no HPC view');
    const item = api.tree.getTreeItem({ kind: 'session', id: server.id });
    expect(item.contextValue).toBe('session-ready');
    expect(item.description).toMatch(/^ready on node[1-4], \d+ min left$/);
    expect(fake.statusBarItems[0]?.text).toBe('$(server-process) HPC: 1 ready');
  });

  it('after an agent restart, the same server ids come back and resolve', async () => {
    const stopped = await cli(['agent', 'stop'], env);
    expect(stopped.code, stopped.stderr).toBe(0);
    await until(() => !api.model.live, 15_000, 'the extension to notice the agent stopped');
    // Meanwhile the kernel picker keeps the server.
    expect((await api.provider.provideJupyterServers(noToken())).map((s) => s.id)).toEqual([
      server.id,
    ]);
    // The provider starts the agent again on its own (its sessions were live) ...
    const t0 = performance.now();
    await until(() => api.model.live, 30_000, 'the extension to reconnect');
    console.log(`agent restart to reconnected: ${(performance.now() - t0).toFixed(0)} ms`);
    const listed = await api.provider.provideJupyterServers(noToken());
    expect(listed.map((s) => s.id)).toEqual([server.id]);
    // ... and the same server resolves, through a fresh tunnel, to the same JupyterLab.
    const resolved = await api.provider.resolveJupyterServer(listed[0] as JupyterServer, noToken());
    const { baseUrl, token } = connection(resolved);
    const result = await executeOnServer(
      baseUrl,
      token,
      'import socket; print(socket.gethostname())',
    );
    expect(result.stdout.trim()).toBe(api.model.session(server.id)?.nodes?.[0]);
  });

  it('cancelling the progress notification of a queued job cancels the job', async () => {
    // Four nodes while our server holds one: the job has to wait.
    fake.quickPickScripts.push(
      pickExact('testlab'),
      pickExact('JupyterLab'),
      pickExact('Nodes'),
      pickLabel(START_LABEL),
    );
    fake.inputScripts.push(() => '4');
    const progressBefore = fake.progress.length;
    const handled = api.provider.handleCommand({ label: START_COMMAND_LABEL }, noToken());
    await until(
      () => fake.progress[progressBefore]?.messages.some((m) => / queued/.test(m)) === true,
      60_000,
      'a queued state in the progress notification',
    );
    const queued = api.model.sessions.find((s) => s.id !== server.id);
    if (queued?.jobId === undefined) throw new Error('no queued session');
    expect(queued.params).toMatchObject({ nodes: 4 });
    const message = fake.progress[progressBefore]?.messages.find((m) => / queued/.test(m)) ?? '';
    expect(message).toMatch(new RegExp(`^Job ${queued.jobId}: queued.*, \\d+:\\d\\d elapsed$`));
    fake.progress[progressBefore]?.cancel();
    await expect(handled).rejects.toThrow('Canceled');
    const deadline = Date.now() + 60_000;
    while (await inSqueue(queued.jobId)) {
      const state = api.model.session(queued.id)?.state;
      if (state === 'cancelled') break;
      if (Date.now() > deadline) throw new Error(`job ${queued.jobId} still queued after cancel`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  });

  it('stops the server from the HPC view, and the job leaves the queue', async () => {
    const jobId = api.model.session(server.id)?.jobId;
    if (jobId === undefined) throw new Error('no job id');
    fake.messageScripts.push(() => 'Stop');
    await fake.vs.commands.executeCommand('hpcJupyter.stopSession', {
      kind: 'session',
      id: server.id,
    });
    expect(fake.messages.at(-1)).toMatchObject({ modal: true });
    await until(
      () => !['ready', 'unknown'].includes(api.model.session(server.id)?.state ?? ''),
      30_000,
      'the session to stop',
    );
    await waitLeftSqueue(jobId, 90_000, 'stop');
    expect(await api.provider.provideJupyterServers(noToken())).toEqual([]);
  });
});
