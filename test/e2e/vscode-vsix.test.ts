/**
 * The packaged VS Code extension: `vsce package` makes a .vsix, whose contents are checked (the
 * bundle, the core's runtime files, no sources), then unpacked and its entry point loaded in Node
 * with a fake `vscode` module, as VS Code would load it. Activation must register the server
 * collection, the view and the commands; the agent it starts by default is the one bundled in the
 * .vsix, which must serve the real Slurm test cluster: its templates, a launch form with the
 * site's partitions, and a JupyterLab job reached through its tunnel. A profile installed as a
 * kernel from it runs the bundled launcher (pure JavaScript: it speaks ZeroMQ's protocol itself),
 * which answers as a kernel at once and runs code on a compute node once its job is up.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import Module, { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HpcJupyterApi } from '../../packages/vscode-ext/src/activate.js';
import {
  FakeVscode,
  noToken,
  pickExact,
  pickLabel,
} from '../../packages/vscode-ext/src/fake-vscode.testutil.js';
import { START_LABEL } from '../../packages/vscode-ext/src/form-quick-pick.js';
import { START_COMMAND_LABEL } from '../../packages/vscode-ext/src/server-provider.js';
import { readZip, type ZipEntry } from '../../packages/vscode-ext/src/zip-reader.testutil.js';
import {
  TestKernelClient,
  writeConnectionFile,
} from '../../packages/core/src/kernel/kernel-client.testutil.js';
import { waitLeftSqueue, privateAgentEnv, REPO_ROOT, testCluster } from './support.js';

const PKG_DIR = path.join(REPO_ROOT, 'packages', 'vscode-ext');
const manifest = JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8')) as {
  main: string;
  contributes: { commands: { command: string }[] };
};

interface LoadHook {
  _load: (request: string, parent: unknown, isMain: boolean) => unknown;
}

let env: Record<string, string>;
let vsix: string;
let entries: ZipEntry[];
let extensionDir: string;
let out: string;
const fake = new FakeVscode();
let api: HpcJupyterApi;
const cleanups: (() => Promise<unknown> | undefined)[] = [];

function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: { ...process.env, ...options.env }, timeout: 240_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  const cluster = await testCluster();
  out = mkdtempSync(path.join(tmpdir(), 'hpcj-vsix-'));
  // The test cluster's configuration plus a kernel profile, as a directory of YAML files.
  const configDir = path.join(out, 'config');
  mkdirSync(configDir);
  copyFileSync(cluster.configFile, path.join(configDir, '10-testlab.yaml'));
  writeFileSync(
    path.join(configDir, '20-profiles.yaml'),
    'profiles:\n  vsixkernel:\n    displayName: VSIX test kernel\n    cluster: testlab\n    template: kernel\n    params: { hours: 1 }\n',
  );
  env = {
    ...privateAgentEnv(configDir),
    JUPYTER_DATA_DIR: path.join(out, 'jupyter'),
  };
  vsix = path.join(out, 'hpc-jupyter-vscode.vsix');
  const vsce = path.join(
    path.dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')),
    'vsce',
  );
  const t0 = performance.now();
  const packaged = await run(
    process.execPath,
    [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--out', vsix],
    { cwd: PKG_DIR },
  );
  expect(packaged.code, packaged.stderr + packaged.stdout).toBe(0);
  console.log(`build + vsce package: ${(performance.now() - t0).toFixed(0)} ms`);
  entries = readZip(vsix);
  const root = path.join(out, 'unpacked');
  for (const entry of entries) {
    const target = path.join(root, entry.name);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, entry.data());
  }
  extensionDir = path.join(root, 'extension');
});

afterAll(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

function names(): string[] {
  return entries.map((e) => e.name);
}

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the .vsix', () => {
  it('holds the bundle, the runtime files the core reads, and no sources', () => {
    const listed = names();
    console.log(
      `vsix: ${(statSync(vsix).size / 1024 / 1024).toFixed(2)} MiB, ${listed.length} files`,
    );
    for (const e of entries.filter((x) => x.name.endsWith('.js') && x.name.includes('/dist/'))) {
      if (!e.name.includes('node_modules'))
        console.log(`${e.name}: ${(e.size / 1024).toFixed(0)} KiB`);
    }
    expect(listed).toEqual(
      expect.arrayContaining([
        'extension.vsixmanifest',
        'extension/package.json',
        'extension/readme.md',
        'extension/LICENSE.txt',
        'extension/media/hpc.svg',
        `extension/${manifest.main}`,
        'extension/dist/hpc-jupyter.js',
        'extension/dist/runtime/packages/core/package.json',
        'extension/dist/runtime/packages/core/schema/clusters.schema.json',
        'extension/dist/runtime/packages/core/dist/cli/main.js',
        'extension/dist/runtime/templates/jupyter/manifest.yaml',
        'extension/dist/runtime/templates/jupyter/body.sh',
        'extension/dist/runtime/templates/runtime/runtime.sh',
        'extension/dist/runtime/templates/common/parameters.yaml',
      ]),
    );
    // Sources, build output and dependencies stay out, and nothing native: the same .vsix
    // serves every platform.
    const unwanted = listed.filter(
      (n) =>
        /^extension\/(src|lib|scripts)\/|\.ts$|\.map$|\.node$|tsconfig/.test(n) ||
        n.includes('/node_modules/'),
    );
    expect(unwanted).toEqual([]);
    const xml = entries
      .find((e) => e.name === 'extension.vsixmanifest')
      ?.data()
      .toString('utf8');
    expect(xml).toContain(
      'Microsoft.VisualStudio.Code.ExtensionDependencies" Value="ms-toolsai.jupyter"',
    );
  });

  it('activates in Node with a fake vscode module: collection, view and commands', async () => {
    const loader = Module as unknown as LoadHook;
    const original = loader._load;
    loader._load = function (request, parent, isMain) {
      if (request === 'vscode') return fake.vs;
      return original.call(this, request, parent, isMain);
    };
    cleanups.push(() => {
      loader._load = original;
      return undefined;
    });
    // The bundle takes the agent's environment from the process, as it would in VS Code.
    const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    cleanups.push(() => {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) Reflect.deleteProperty(process.env, k);
        else process.env[k] = v;
      }
      return undefined;
    });
    const context = fake.context(extensionDir);
    const t0 = performance.now();
    const extension = createRequire(path.join(extensionDir, 'package.json'))(
      `./${manifest.main}`,
    ) as { activate: (c: typeof context) => Promise<HpcJupyterApi>; deactivate: () => void };
    const loaded = performance.now();
    api = await extension.activate(context);
    const activated = performance.now();
    console.log(
      `require: ${(loaded - t0).toFixed(0)} ms, activate: ${(activated - loaded).toFixed(0)} ms`,
    );
    cleanups.push(
      () =>
        run(
          process.execPath,
          [path.join(extensionDir, 'dist', 'hpc-jupyter.js'), 'agent', 'stop'],
          { env },
        ),
      () => api.connection.dispose(),
      async () => {
        extension.deactivate();
        for (const d of context.subscriptions.splice(0).reverse()) await d.dispose();
      },
      // Every session of this private agent is this file's: leave no job behind.
      async () => {
        for (const r of api.model.sessions) {
          if (['completed', 'failed', 'cancelled', 'timed-out'].includes(r.state)) continue;
          await run(
            process.execPath,
            [path.join(extensionDir, 'dist', 'hpc-jupyter.js'), 'stop', r.id],
            { env },
          );
        }
      },
    );

    expect(fake.collections.map((c) => [c.id, c.label])).toEqual([['hpc-jupyter', 'HPC clusters']]);
    expect(fake.collections[0]?.commandProvider).toBeDefined();
    expect([...fake.treeViews.keys()]).toEqual(['hpcJupyter.sessions']);
    expect([...fake.commands.keys()].sort()).toEqual(
      manifest.contributes.commands.map((c) => c.command).sort(),
    );
    expect(fake.outputText('HPC Jupyter')).toContain(
      `hpc-jupyter command: ${process.execPath} ${path.join(extensionDir, 'dist', 'hpc-jupyter.js')}`,
    );
  });

  it('starts its bundled agent, which reads the templates and the real site', async () => {
    const t0 = performance.now();
    expect(await api.provider.provideJupyterServers(noToken())).toEqual([]);
    await until(() => api.model.catalog.templates.length > 0, 20_000, 'the catalog');
    console.log(
      `first provideJupyterServers with agent start: ${(performance.now() - t0).toFixed(0)} ms`,
    );
    expect(api.model.catalog.clusters.map((c) => c.name)).toContain('testlab');
    expect(api.model.catalog.templates.map((t) => t.name)).toContain('jupyter');
    const client = await api.connection.client();
    const form = await client.templateForm('jupyter', 'testlab');
    expect(form.schema.properties['partition']?.enum).toEqual(expect.arrayContaining(['debug']));
  });

  it('starts a JupyterLab job on Slurm through the bundled agent and reaches it', async () => {
    fake.quickPickScripts.push(
      pickExact('testlab'),
      pickExact('JupyterLab'),
      pickLabel(START_LABEL),
    );
    const server = await api.provider.handleCommand({ label: START_COMMAND_LABEL }, noToken());
    const info = server.connectionInformation;
    if (info === undefined) throw new Error('no connection information');
    const status = await fetch(`${info.baseUrl.toString()}api/kernelspecs`, {
      headers: { authorization: `token ${info.token ?? ''}` },
    });
    expect(status.status).toBe(200);
    expect(Object.keys(((await status.json()) as { kernelspecs: object }).kernelspecs)).toContain(
      'python3',
    );
    const jobId = api.model.session(server.id)?.jobId;
    if (jobId === undefined) throw new Error('no job id');
    fake.messageScripts.push(() => 'Stop');
    await fake.vs.commands.executeCommand('hpcJupyter.stopSession', {
      kind: 'session',
      id: server.id,
    });
    await waitLeftSqueue(jobId, 90_000, 'stop');
    // The test cluster is shared: the job may wait in the queue behind others' jobs.
  }, 600_000);

  it('installs a profile as a kernel whose bundled launcher runs code on a compute node', async () => {
    await until(
      () => api.model.catalog.profiles.some((p) => p.name === 'vsixkernel'),
      10_000,
      'the profile',
    );
    await fake.vs.commands.executeCommand('hpcJupyter.installKernel', {
      kind: 'profile',
      name: 'vsixkernel',
    });
    expect(fake.messages.at(-1)?.level, fake.messages.at(-1)?.message).toBe('info');
    const spec = JSON.parse(
      readFileSync(path.join(out, 'jupyter', 'kernels', 'hpcj-vsixkernel', 'kernel.json'), 'utf8'),
    ) as { argv: string[]; env?: Record<string, string>; interrupt_mode: string };
    const bundled = path.join(extensionDir, 'dist', 'hpc-jupyter.js');
    expect(spec.argv).toEqual([
      process.execPath,
      bundled,
      'kernel',
      '--profile',
      'vsixkernel',
      '-f',
      '{connection_file}',
    ]);
    expect(spec.interrupt_mode).toBe('message');

    // Started the way Jupyter starts any kernel: the argv with a connection file.
    const file = path.join(out, 'kernel-connection.json');
    const info = await writeConnectionFile(file, randomUUID());
    const argv = spec.argv.map((a) => (a === '{connection_file}' ? file : a));
    const child = spawn(argv[0] ?? '', argv.slice(1), {
      env: { ...process.env, ...env, ...spec.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    cleanups.push(() => {
      child.kill('SIGKILL');
      return undefined;
    });
    const client = new TestKernelClient(info);
    cleanups.push(() => {
      client.close();
      return undefined;
    });
    const t0 = performance.now();
    await client.waitReady(15_000).catch((error: unknown) => {
      throw new Error(`${String(error)}; launcher stderr:\n${stderr}`);
    });
    console.log(
      `bundled kernel launcher: kernel_info after ${(performance.now() - t0).toFixed(0)} ms`,
    );
    const result = await client.execute('import socket; print(socket.gethostname())', 300_000);
    expect(result.stdout.trim(), stderr).toMatch(/^node[1-4]$/);

    await client.send('control', 'shutdown_request', { restart: false });
    await Promise.race([
      exited,
      new Promise((_, reject) =>
        setTimeout(() => {
          reject(new Error('launcher did not exit'));
        }, 30_000),
      ),
    ]);
    const session = api.model.sessions.find((s) => s.profile === 'vsixkernel');
    const jobId = session?.jobId;
    if (jobId === undefined) throw new Error('no kernel session');
    await waitLeftSqueue(jobId, 90_000, 'shutdown');
  }, 600_000);
});
