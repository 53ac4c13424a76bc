/**
 * The .vsix in a real VS Code host: code-server (VS Code 1.100 in a browser, installed by
 * `scripts/install --with-cluster`), driven by playwright-core and Debian's Chromium. The VS Code
 * Jupyter extension cannot be downloaded here, so beside the .vsix the test installs a TEST
 * STAND-IN for it (test/vscode-jupyter-standin: id ms-toolsai.jupyter, only
 * createJupyterServerCollection), which calls the "HPC clusters" collection the way the Jupyter
 * extension's kernel picker does and writes what it got into a private results directory.
 * Everything else is real: the packaged extension activates in code-server's extension host,
 * starts its bundled agent, shows the HPC view with the test cluster, takes its start form from
 * the agent, queues a JupyterLab job on the real Slurm test cluster with a progress notification,
 * and the URL and token the provider resolved reach that JupyterLab with @jupyterlab/services,
 * whose kernel runs on a compute node. The session is stopped from the command palette and its
 * job leaves the queue.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cp, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KernelManager, ServerConnection } from '@jupyterlab/services';
import { build } from 'esbuild';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SelectedResult, ServersResult } from '../vscode-jupyter-standin/src/extension.js';
import {
  CONNECT_COMMAND_LABEL,
  START_COMMAND_LABEL,
} from '../../packages/vscode-ext/src/server-provider.js';
import { execute } from './jupyter-client.js';
import { serverSettingsFor } from './jupyter-server.js';
import { launchChromium } from './jupyterlab-support.js';
import {
  REPO_ROOT,
  privateAgentEnv,
  stopPrivateAgent,
  testCluster,
  waitLeftSqueue,
} from './support.js';

const CODE_SERVER_DIR = process.env['HPC_JUPYTER_CODE_SERVER'] ?? '/opt/hpc-jupyter/code-server';
const CODE_SERVER = path.join(CODE_SERVER_DIR, 'node_modules', '.bin', 'code-server');
const PKG_DIR = path.join(REPO_ROOT, 'packages', 'vscode-ext');
const STANDIN_DIR = path.join(REPO_ROOT, 'test', 'vscode-jupyter-standin');
const SCREENSHOT = path.join(REPO_ROOT, '.artifacts', 'vscode-hpc-view.png');
const HPC_EXTENSION = 'hpc-jupyter.hpc-jupyter-vscode';
const STANDIN_EXTENSION = 'ms-toolsai.jupyter';
const STANDIN = 'Jupyter (test stand-in)';
/** How long a job may wait in the shared test cluster's queue (an idle cluster runs it in ~10 s). */
const QUEUE_WAIT_MS = 480_000;

const manifest = JSON.parse(readFileSync(path.join(PKG_DIR, 'package.json'), 'utf8')) as {
  version: string;
  contributes: { commands: { command: string; title: string; category: string }[] };
};

let out = '';
let agentEnv: Record<string, string>;
let hostEnv: NodeJS.ProcessEnv;
let resultsDir: string;
let codeServerArgs: string[];
/** code-server's login password: in its environment ($PASSWORD) and typed into its login page. */
let password: string;
let workspace: string;
let codeServer: ChildProcess | undefined;
let codeServerLog = '';
let url: string;
let browser: Browser | undefined;
let page: Page;
const cleanups: (() => Promise<unknown>)[] = [];

function run(
  file: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: options.cwd, env: options.env ?? process.env, timeout: 240_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr });
      },
    );
  });
}

const vsce = path.join(
  path.dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')),
  'vsce',
);

/** The hpc-jupyter .vsix, made the way `npm run package -w packages/vscode-ext` makes it. */
async function packageExtension(file: string): Promise<void> {
  const packaged = await run(
    process.execPath,
    [vsce, 'package', '--no-dependencies', '--allow-missing-repository', '--out', file],
    { cwd: PKG_DIR },
  );
  expect(packaged.code, packaged.stderr + packaged.stdout).toBe(0);
}

/** The stand-in's .vsix: its manifest and README, and src/extension.ts bundled by esbuild. */
async function packageStandin(file: string): Promise<void> {
  const stage = path.join(out, 'standin');
  mkdirSync(stage);
  await cp(path.join(STANDIN_DIR, 'package.json'), path.join(stage, 'package.json'));
  await cp(path.join(STANDIN_DIR, 'README.md'), path.join(stage, 'README.md'));
  await build({
    entryPoints: [path.join(STANDIN_DIR, 'src', 'extension.ts')],
    outfile: path.join(stage, 'dist', 'extension.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'error',
  });
  const packaged = await run(
    process.execPath,
    [
      vsce,
      'package',
      '--no-dependencies',
      '--allow-missing-repository',
      '--skip-license',
      '--out',
      file,
    ],
    { cwd: stage },
  );
  expect(packaged.code, packaged.stderr + packaged.stdout).toBe(0);
}

/** Resolves with code-server's URL once it listens; rejects if it exits first. */
function startCodeServer(): Promise<string> {
  const child = spawn(CODE_SERVER, [...codeServerArgs, workspace], {
    // code-server takes the password from $PASSWORD and removes it from what its children see.
    env: { ...hostEnv, PASSWORD: password },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so the extension host and everything it started end with it.
    detached: true,
  });
  codeServer = child;
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer): void => {
      codeServerLog += d.toString();
      const listening = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+\/)/.exec(
        codeServerLog,
      );
      if (listening?.[1] !== undefined) resolve(listening[1]);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      reject(
        new Error(`code-server exited (${String(code)}) before it listened:\n${codeServerLog}`),
      );
    });
  });
}

async function stopCodeServer(): Promise<void> {
  const child = codeServer;
  if (child?.pid === undefined || child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The quick input's rows whose label is exactly `label` (codicons render as no text). */
function quickRow(label: string) {
  return page.locator('.quick-input-widget .quick-input-list .monaco-list-row').filter({
    has: page.locator('.label-name', { hasText: new RegExp(`^\\s*${escape(label)}$`) }),
  });
}

/** Waits for the quick input titled `title`, then picks `label` in it. */
async function pick(title: string | RegExp, label: string): Promise<void> {
  await page.locator('.quick-input-widget .quick-input-title', { hasText: title }).waitFor();
  await quickRow(label).first().click();
}

/** Runs a command from the command palette by its title, as a user would. */
async function palette(title: string): Promise<void> {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input.input');
  await input.waitFor();
  await input.fill(`>${title}`);
  await quickRow(title).first().click();
}

/** Runs `command` and returns the JSON the stand-in writes to `<name>.json` for it. */
async function standinResult<T>(
  name: string,
  command: () => Promise<void>,
  timeoutMs = 60_000,
): Promise<T> {
  const file = path.join(resultsDir, `${name}.json`);
  rmSync(file, { force: true });
  await command();
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file)) {
    const error = path.join(resultsDir, 'error.json');
    if (existsSync(error)) throw new Error(`the stand-in failed: ${await readFile(error, 'utf8')}`);
    if (Date.now() > deadline) throw new Error(`the stand-in wrote no ${name}.json`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** Waits until the first element of `locator` has text matching `expected`. */
async function hasText(
  locator: Locator,
  expected: string | RegExp,
  timeout = 30_000,
): Promise<void> {
  const matcher = typeof expected === 'string' ? new RegExp(`^${escape(expected)}$`) : expected;
  await expect
    // Editors (the output panel) render spaces as no-break spaces.
    .poll(
      async () => ((await locator.first().textContent()) ?? '').replace(/\u00a0/g, ' ').trim(),
      {
        timeout,
      },
    )
    .toMatch(matcher);
}

/** What the extension host wrote to an output channel, from its log under the user-data dir. */
function outputLog(channel: string): string {
  const logs = path.join(out, 'user-data', 'logs');
  if (!existsSync(logs)) return '';
  return readdirSync(logs, { recursive: true, encoding: 'utf8' })
    .filter((f) => path.basename(f).endsWith(`-${channel}.log`))
    .map((f) => readFileSync(path.join(logs, f), 'utf8'))
    .join('');
}

/** The HPC view's row for a label (a cluster name, a session title). */
function treeRow(label: string | RegExp) {
  return page
    .locator('.monaco-list-row[role=treeitem]')
    .filter({ has: page.locator('.label-name', { hasText: label }) });
}

beforeAll(async () => {
  if (!existsSync(CODE_SERVER)) {
    throw new Error(
      `code-server is not installed at ${CODE_SERVER_DIR}: run scripts/install --with-cluster (or set HPC_JUPYTER_CODE_SERVER)`,
    );
  }
  const cluster = await testCluster();
  out = path.join(tmpdir(), `hpcj-code-server-${randomBytes(4).toString('hex')}`);
  mkdirSync(out, { mode: 0o700 });
  agentEnv = privateAgentEnv(cluster.configFile);
  cleanups.push(() => stopPrivateAgent(agentEnv));
  resultsDir = path.join(out, 'results');
  mkdirSync(resultsDir, { mode: 0o700 });
  const userData = path.join(out, 'user-data');
  mkdirSync(path.join(userData, 'User'), { recursive: true, mode: 0o700 });
  // Nothing that reaches for a marketplace or the network, no welcome page in the way.
  writeFileSync(
    path.join(userData, 'User', 'settings.json'),
    `${JSON.stringify(
      {
        'extensions.autoUpdate': false,
        'extensions.autoCheckUpdates': false,
        'update.mode': 'none',
        'telemetry.telemetryLevel': 'off',
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'security.workspace.trust.enabled': false,
      },
      null,
      2,
    )}\n`,
  );
  // code-server's own config: loopback only, a password (from $PASSWORD, never in argv).
  const config = path.join(out, 'code-server.yaml');
  writeFileSync(config, 'bind-addr: 127.0.0.1:0\nauth: password\ncert: false\n', { mode: 0o600 });
  workspace = path.join(out, 'workspace');
  mkdirSync(workspace);
  password = randomBytes(18).toString('base64url');
  hostEnv = {
    ...process.env,
    ...agentEnv,
    HPC_JUPYTER_STANDIN_RESULTS: resultsDir,
    // code-server's data and logs stay in the test's directory.
    XDG_CONFIG_HOME: path.join(out, 'xdg-config'),
    XDG_DATA_HOME: path.join(out, 'xdg-data'),
    XDG_CACHE_HOME: path.join(out, 'xdg-cache'),
  };
  codeServerArgs = [
    '--config',
    config,
    '--user-data-dir',
    userData,
    '--extensions-dir',
    path.join(out, 'extensions'),
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-workspace-trust',
    '--disable-getting-started-override',
    '--ignore-last-opened',
  ];
  cleanups.push(stopCodeServer);
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  for (const step of cleanups.splice(0).reverse())
    await step().catch((err: unknown) => {
      console.error(`cleanup: ${String(err)}`);
    });
  if (out !== '') rmSync(out, { recursive: true, force: true });
});

describe('the .vsix in code-server, with a test stand-in for the Jupyter extension', () => {
  let selected: SelectedResult;
  let jobId: string;
  let host: string;
  let kernelId: string;

  it('installs into a fresh code-server beside the stand-in', async () => {
    const t0 = performance.now();
    const vsix = path.join(out, 'hpc-jupyter-vscode.vsix');
    const standin = path.join(out, 'jupyter-standin.vsix');
    await Promise.all([packageExtension(vsix), packageStandin(standin)]);
    const t1 = performance.now();
    // The stand-in first: the .vsix names ms-toolsai.jupyter as a dependency, which code-server
    // would otherwise try to fetch from its marketplace.
    for (const file of [standin, vsix]) {
      const installed = await run(CODE_SERVER, [...codeServerArgs, '--install-extension', file], {
        env: hostEnv,
      });
      expect(installed.code, installed.stderr + installed.stdout).toBe(0);
    }
    const listed = await run(
      CODE_SERVER,
      [...codeServerArgs, '--list-extensions', '--show-versions'],
      {
        env: hostEnv,
      },
    );
    console.log(
      `vsce package (both): ${(t1 - t0).toFixed(0)} ms, code-server --install-extension (both): ${(performance.now() - t1).toFixed(0)} ms`,
    );
    expect(listed.stdout.trim().split('\n').sort()).toEqual([
      `${HPC_EXTENSION}@${manifest.version}`,
      `${STANDIN_EXTENSION}@0.0.1`,
    ]);
  });

  it('activates in the browser: the HPC view shows the test cluster, the palette its commands', async () => {
    const t0 = performance.now();
    url = await startCodeServer();
    const t1 = performance.now();
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(url);
    await page.locator('input[type=password]').fill(password);
    await page.locator('input[type=submit], button[type=submit]').first().click();
    await page.locator('.monaco-workbench').waitFor({ timeout: 60_000 });
    const t2 = performance.now();
    await page.locator('.activitybar a.action-label[aria-label="HPC"]').click();
    // Activation (the stand-in first, as a dependency), the bundled agent, the cluster catalog.
    await treeRow(/^testlab$/).waitFor({ timeout: 60_000 });
    console.log(
      `code-server listening: ${(t1 - t0).toFixed(0)} ms, workbench after login: ${(t2 - t1).toFixed(0)} ms, HPC view with clusters: ${(performance.now() - t2).toFixed(0)} ms`,
    );
    await expect
      .poll(() =>
        treeRow(/^testlab$/)
          .locator('.label-description')
          .textContent(),
      )
      .toBe('Test lab (4 Slurm nodes)');
    // The agent runs from the installed extension's own bundle, with the host's Node.js.
    const bundled = path.join(
      out,
      'extensions',
      `${HPC_EXTENSION}-${manifest.version}`,
      'dist',
      'hpc-jupyter.js',
    );
    await expect.poll(() => outputLog('HPC Jupyter')).toContain(`hpc-jupyter command: `);
    expect(outputLog('HPC Jupyter')).toMatch(
      new RegExp(`hpc-jupyter command: \\S*node ${escape(bundled)}$`, 'm'),
    );

    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input.input');
    await input.fill('>HPC: ');
    const titles = manifest.contributes.commands.map((c) => `${c.category}: ${c.title}`).sort();
    await expect
      .poll(async () =>
        (await page.locator('.quick-input-widget .monaco-list-row .label-name').allTextContents())
          .map((t) => t.trim())
          .filter((t) => t.startsWith('HPC: '))
          .sort(),
      )
      // VS Code adds its own "Focus on Clusters and Sessions View" under the same category.
      .toEqual(expect.arrayContaining(titles));
    await page.keyboard.press('Escape');
  });

  it(
    'starts a JupyterLab job from the stand-in server picker, with a progress notification',
    async () => {
      const t0 = performance.now();
      const result = standinResult<SelectedResult>(
        'selected',
        async () => {
          await palette(`${STANDIN}: Select an Existing Jupyter Server...`);
          await pick('Select an existing Jupyter server', 'HPC clusters');
          // No servers yet: the Jupyter extension runs the one auto-selectable command, "Start a
          // Jupyter server job...", without showing it; its first step is the cluster.
          await pick('Start a Jupyter server job (1/3): cluster', 'testlab');
          await pick('Start a Jupyter server job (2/3): what to start on testlab', 'JupyterLab');
          await page
            .locator('.quick-input-widget .quick-input-title', { hasText: 'JupyterLab on testlab' })
            .waitFor();
          // The form, made by the agent from the template and the site's partitions.
          await hasText(quickRow('Partition').locator('.label-description'), 'debug');
          await quickRow('Start').first().click();
          // The test cluster is shared: the job may wait in the queue behind others' jobs.
        },
        QUEUE_WAIT_MS,
      );
      // Awaited below; a failed step fails the test there, not as an unhandled rejection.
      result.catch(() => undefined);
      // The queue state, in a progress notification while the job waits and starts.
      const progress = page.locator('.notifications-toasts .notification-list-item-message', {
        hasText: /^JupyterLab on testlab .*: Job \d+: /,
      });
      await progress.first().waitFor({ timeout: 60_000 });
      const message = (await progress.first().textContent()) ?? '';
      jobId = /: Job (\d+): /.exec(message)?.[1] ?? '';
      console.log(`progress notification: ${message}`);
      selected = await result;
      console.log(`picker to a resolved server: ${(performance.now() - t0).toFixed(0)} ms`);
      expect(selected).toMatchObject({
        collection: 'hpc-jupyter',
        via: 'command',
        command: START_COMMAND_LABEL,
      });
      expect(selected.server.id).toMatch(/^s[0-9a-f]{12}$/);
      expect(selected.server.label).toBe(`JupyterLab on testlab (1 node, 1 h) · job ${jobId}`);
      expect(selected.server.connection?.baseUrl).toMatch(
        new RegExp(`^http://127\\.0\\.0\\.1:\\d+/sessions/${selected.server.id}/$`),
      );
      expect(selected.server.connection?.token ?? '').not.toBe('');
      await page
        .locator('.notifications-toasts .notification-list-item-message', {
          hasText: `${STANDIN}: connected to "${selected.server.label}"`,
        })
        .waitFor();
      // The test cluster is shared: the job may wait in the queue behind others' jobs.
    },
    QUEUE_WAIT_MS + 60_000,
  );

  it('reaches that JupyterLab with @jupyterlab/services at the resolved URL: code runs on a compute node', async () => {
    const connection = selected.server.connection;
    if (connection === undefined) throw new Error('no connection information');
    const base = serverSettingsFor(connection.baseUrl, connection.token ?? '');
    const serverSettings = ServerConnection.makeSettings({
      ...base,
      ...(connection.headers === undefined ? {} : { init: { headers: connection.headers } }),
    });
    const manager = new KernelManager({ serverSettings });
    try {
      await manager.ready;
      const kernel = await manager.startNew({ name: 'python3' });
      try {
        const result = await execute(kernel, 'import socket; print(socket.gethostname())');
        expect(result.status, result.stderr).toBe('ok');
        host = result.stdout.trim();
        kernelId = kernel.id;
        expect(host).toMatch(/^node[1-4]$/);
      } finally {
        await kernel.shutdown().catch(() => undefined);
      }
    } finally {
      manager.dispose();
    }
  });

  it('shows the ready session in the HPC view and the status bar', async () => {
    const session = treeRow(/^JupyterLab on testlab/);
    await hasText(
      session.locator('.label-description'),
      new RegExp(`^ready on ${host}, \\d+ min left$`),
    );
    await page.locator('.statusbar-item', { hasText: 'HPC: 1 ready' }).first().waitFor();
    // A wider side bar, so the screenshot shows whole rows.
    const bar = await page.locator('.part.sidebar').boundingBox();
    if (bar !== null) {
      await page.mouse.move(bar.x + bar.width - 1, bar.y + bar.height / 2);
      await page.mouse.down();
      await page.mouse.move(bar.x + bar.width + 260, bar.y + bar.height / 2, { steps: 5 });
      await page.mouse.up();
      // Off the sash, which stays highlighted while hovered.
      await page.mouse.move(bar.x + bar.width + 600, bar.y + bar.height / 2);
    }
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });
  });

  it('the stand-in lists the server and resolves it, without UI as after a window reload and from its picker', async () => {
    const listed = await standinResult<ServersResult>('servers', () =>
      palette(`${STANDIN}: List Servers to the Results Directory`),
    );
    expect(listed.collections).toHaveLength(1);
    const [collection] = listed.collections;
    expect(collection).toMatchObject({ id: 'hpc-jupyter', label: 'HPC clusters' });
    expect(collection?.servers).toEqual([{ id: selected.server.id, label: selected.server.label }]);
    expect(collection?.commands.map((c) => c.label)).toEqual(
      expect.arrayContaining([START_COMMAND_LABEL, CONNECT_COMMAND_LABEL]),
    );
    expect(
      collection?.commands.filter((c) => c.canBeAutoSelected === true).map((c) => c.label),
    ).toEqual([START_COMMAND_LABEL]);
    // The provider announced the new server through onDidChangeServers.
    expect(collection?.changes).toBeGreaterThan(0);

    const resolved = await standinResult<SelectedResult>('resolved', () =>
      palette(`${STANDIN}: Resolve the First Server to the Results Directory`),
    );
    expect(resolved.server.id).toBe(selected.server.id);
    expect(resolved.server.connection?.baseUrl).toMatch(
      new RegExp(`/sessions/${selected.server.id}/$`),
    );
    // Resolving asked nothing: no quick input is open.
    await page.locator('.quick-input-widget').waitFor({ state: 'hidden' });

    // Picked from the list in the server picker, the running server resolves to the same place.
    const picked = await standinResult<SelectedResult>('selected', async () => {
      await palette(`${STANDIN}: Select an Existing Jupyter Server...`);
      await pick('Select an existing Jupyter server', 'HPC clusters');
      await pick(/^HPC clusters$/, selected.server.label);
    });
    expect(picked).toMatchObject({ collection: 'hpc-jupyter', via: 'server' });
    expect(picked.server.id).toBe(selected.server.id);
    expect(picked.server.connection?.baseUrl).toBe(resolved.server.connection?.baseUrl);
  });

  it("shows the job's log from the palette, with what that kernel did in it", async () => {
    await palette('HPC: Show Job Logs');
    await pick('Show the log of which session?', selected.server.label.split(' · ')[0] ?? '');
    // The panel shows the log's end, where JupyterLab logged the kernel started above.
    await hasText(
      page.locator('.part.panel .view-lines'),
      new RegExp(`Kernel shutdown: ${kernelId}`),
    );
  });

  it('stops the session from the palette, and its job leaves the queue', async () => {
    await palette('HPC: Stop Session');
    await pick('Stop which session?', selected.server.label.split(' · ')[0] ?? '');
    const dialog = page.locator('.monaco-dialog-box');
    await hasText(dialog, new RegExp(escape(`This cancels job ${jobId} on testlab`)));
    await dialog.locator('.monaco-button', { hasText: /^Stop$/ }).click();
    await waitLeftSqueue(jobId, 90_000, 'stop');
    await hasText(treeRow(/^JupyterLab on testlab/).locator('.label-description'), /^cancelled/);
    const listed = await standinResult<ServersResult>('servers', () =>
      palette(`${STANDIN}: List Servers to the Results Directory`),
    );
    expect(listed.collections[0]?.servers).toEqual([]);
  });
});
