/**
 * The JupyterLab extension end to end: installed by `hpc-jupyter jupyterlab install` into a
 * private prefix, a real JupyterLab from the venv with the agent behind jupyter-server-proxy,
 * driven in Debian's Chromium with playwright-core, on the 4-node Slurm test cluster. Screenshots
 * of every step go to .artifacts/jupyterlab/.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import { startJupyter, VENV_BIN, type JupyterProcess } from './jupyter-server.js';
import { installLabExtension, launchChromium } from './jupyterlab-support.js';
import {
  cli,
  waitLeftSqueue,
  privateAgentEnv,
  REPO_ROOT,
  stopPrivateAgent,
  testCluster,
} from './support.js';

const execFileP = promisify(execFile);
const ARTIFACTS = join(REPO_ROOT, '.artifacts', 'jupyterlab');
const TOKEN = `t${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;

let env: Record<string, string>;
let labEnv: NodeJS.ProcessEnv;
let lab: JupyterProcess | undefined;
let labUrl: string;
let browser: Browser;
let page: Page;
let agent: AgentClient;
let step = 0;

let port: number | undefined;

async function startLab(): Promise<void> {
  // A restart comes back on the same port, so that the open page reconnects.
  lab = await startJupyter({
    app: 'lab',
    env: labEnv,
    token: TOKEN,
    rootDir: mkdtempSync(join(tmpdir(), 'hpcj-lab-root-')),
    ...(port === undefined ? {} : { port }),
  });
  port = lab.port;
  labUrl = lab.url;
}

async function stopLab(): Promise<void> {
  const current = lab;
  lab = undefined;
  await current?.stop();
}

async function shot(name: string): Promise<void> {
  step++;
  await page.screenshot({
    path: join(ARTIFACTS, `${String(step).padStart(2, '0')}-${name}.png`),
  });
}

async function openSidebar(): Promise<void> {
  await page.goto(`${labUrl}lab?token=${TOKEN}`);
  await page.locator('li[data-id="hpc-jupyter-sidebar"]').click();
  await page.locator('#hpc-jupyter-sidebar .hpcj-status[data-connection="live"]').waitFor();
  await page.locator('#hpc-jupyter-sidebar .hpcj-template[data-template="jupyter"]').waitFor();
}

const sidebar = () => page.locator('#hpc-jupyter-sidebar');

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
  labEnv = await installLabExtension(env, mkdtempSync(join(tmpdir(), 'hpcj-lab-prefix-')));
  // Any command starts the private agent; the sidebar reaches it through the proxy.
  const listed = await cli(['list'], env);
  expect(listed.code, listed.stderr).toBe(0);
  agent = new AgentClient(agentSocketPath(env));
  await startLab();
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
});

afterAll(async () => {
  await (browser as Browser | undefined)?.close();
  await stopLab();
  await stopPrivateAgent(env);
});

describe('the HPC sidebar in a real JupyterLab on the Slurm test cluster', () => {
  let sessionId = '';
  let jobId = '';

  it('is installed and enabled, as `jupyter labextension list` says', async () => {
    const { stdout, stderr } = await execFileP(
      join(VENV_BIN, 'jupyter'),
      ['labextension', 'list'],
      {
        env: labEnv,
      },
    );
    expect(`${stdout}${stderr}`).toMatch(/@hpc-jupyter\/jupyterlab v0\.1\.0 .*enabled.*OK/);
  });

  it('opens the sidebar with the clusters and templates from the agent', async () => {
    await openSidebar();
    await expect(sidebar().locator('.hpcj-cluster[data-cluster="testlab"]').count()).resolves.toBe(
      1,
    );
    await shot('sidebar');
  });

  it('shows invalid values inline and submits nothing', async () => {
    await sidebar().locator('.hpcj-cluster-select').selectOption('testlab');
    await sidebar().locator('.hpcj-template[data-template="jupyter"] button').click();
    const form = sidebar().locator('form.hpcj-form[data-template="jupyter"]');
    await form.waitFor();
    await form.locator('input[name="nodes"]').fill('9');
    await form.locator('input[name="hours"]').fill('two');
    await form.locator('button[type="submit"]').click();
    await expect(
      form.locator('.hpcj-field[data-field="nodes"] .hpcj-field-error').textContent(),
    ).resolves.toMatch(/at most 4 on partition debug/);
    await expect(
      form.locator('.hpcj-field[data-field="hours"] .hpcj-field-error').textContent(),
    ).resolves.toMatch(/must be a number/);
    await shot('invalid-form');
    expect(await agent.sessions()).toHaveLength(0);
  });

  it('launches JupyterLab from the form; the card goes queued -> ready', async () => {
    const form = sidebar().locator('form.hpcj-form[data-template="jupyter"]');
    await form.locator('input[name="nodes"]').fill('1');
    await form.locator('input[name="hours"]').fill('0.5');
    await form.locator('button[type="submit"]').click();
    const card = sidebar().locator('.hpcj-session').first();
    await card.waitFor({ timeout: 60_000 });
    const first = (await card.getAttribute('data-state')) ?? '';
    sessionId = (await card.getAttribute('data-session-id')) ?? '';
    await shot(`card-${first}`);
    expect(['submitting', 'queued', 'starting']).toContain(first);
    await sidebar()
      .locator(`.hpcj-session[data-session-id="${sessionId}"][data-state="ready"]`)
      .waitFor({ timeout: 150_000 });
    const record = await agent.session(sessionId);
    jobId = record.jobId ?? '';
    expect(jobId).not.toBe('');
    await expect(card.locator('.hpcj-nodes').textContent()).resolves.toMatch(/1 node: node\d/);
    await expect(card.locator('.hpcj-time').textContent()).resolves.toMatch(/elapsed .* left/);
    await shot('card-ready');
  });

  it('opens the session in a new tab through its access URL', async () => {
    const card = sidebar().locator(`.hpcj-session[data-session-id="${sessionId}"]`);
    const [tab] = await Promise.all([
      page.context().waitForEvent('page'),
      card.getByRole('button', { name: 'Open' }).click(),
    ]);
    await tab.waitForURL(new RegExp(`/sessions/${sessionId}/lab`), { timeout: 60_000 });
    // The session's own JupyterLab (served from the job, through the tunnel) finishes loading.
    await tab.locator('#jp-main-dock-panel').waitFor({ timeout: 60_000 });
    await tab.locator('#jupyterlab-splash').waitFor({ state: 'detached', timeout: 60_000 });
    await tab.locator('.jp-LauncherCard').first().waitFor({ timeout: 60_000 });
    await tab.screenshot({
      path: join(ARTIFACTS, `${String(++step).padStart(2, '0')}-opened-session.png`),
    });
    await tab.close();
  });

  it('still lists the running session after a page reload', async () => {
    await page.reload();
    await page.locator('li[data-id="hpc-jupyter-sidebar"]').click();
    await sidebar()
      .locator(`.hpcj-session[data-session-id="${sessionId}"][data-state="ready"]`)
      .waitFor({ timeout: 30_000 });
    await shot('after-reload');
  });

  it('still lists it, usable, after jupyter-server restarts', async () => {
    await stopLab();
    await startLab();
    await openSidebar();
    const card = sidebar().locator(
      `.hpcj-session[data-session-id="${sessionId}"][data-state="ready"]`,
    );
    await card.waitFor({ timeout: 30_000 });
    await card.getByRole('button', { name: 'Logs' }).click();
    const log = page.locator(`#hpc-jupyter-logs-${sessionId} pre.hpcj-log`);
    await log.waitFor();
    await expect.poll(() => log.textContent(), { timeout: 30_000 }).not.toBe('');
    await shot('after-server-restart-logs');
  });

  it('lists a session started from the CLI, and its stop from the CLI', async () => {
    const started = await cli(
      ['start', 'jupyter', '--cluster', 'testlab', '--hours', '0.2', '--no-wait', '--json'],
      env,
    );
    expect(started.code, started.stderr).toBe(0);
    const { id } = JSON.parse(started.stdout) as { id: string };
    const card = sidebar().locator(`.hpcj-session[data-session-id="${id}"]`);
    await card.waitFor({ timeout: 30_000 });
    await shot('cli-session');
    const stopped = await cli(['stop', id], env);
    expect(stopped.code, stopped.stderr).toBe(0);
    await sidebar()
      .locator(
        `.hpcj-session[data-session-id="${id}"]:is([data-state="cancelled"], [data-state="completed"])`,
      )
      .waitFor({ timeout: 90_000 });
  });

  it('looks right in the dark theme', async () => {
    await page.evaluate(async () => {
      const app = (
        window as unknown as {
          jupyterapp: { commands: { execute(id: string, args: object): Promise<unknown> } };
        }
      ).jupyterapp;
      await app.commands.execute('apputils:change-theme', { theme: 'JupyterLab Dark' });
    });
    await page.waitForFunction(() => document.body.dataset['jpThemeLight'] === 'false');
    await page.waitForTimeout(500);
    await shot('dark-theme');
    await page.evaluate(async () => {
      const app = (
        window as unknown as {
          jupyterapp: { commands: { execute(id: string, args: object): Promise<unknown> } };
        }
      ).jupyterapp;
      await app.commands.execute('apputils:change-theme', { theme: 'JupyterLab Light' });
    });
  });

  it('stops after confirmation; the card ends and the job leaves squeue', async () => {
    const card = sidebar().locator(`.hpcj-session[data-session-id="${sessionId}"]`);
    await card.getByRole('button', { name: 'Stop' }).click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.waitFor();
    await shot('stop-confirm');
    await dialog.locator('button.jp-mod-warn').click();
    await sidebar()
      .locator(
        `.hpcj-session[data-session-id="${sessionId}"]:is([data-state="cancelled"], [data-state="completed"])`,
      )
      .waitFor({ timeout: 90_000 });
    await shot('stopped');
    await waitLeftSqueue(jobId, 90_000, 'stop');
  });
});
