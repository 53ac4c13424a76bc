/**
 * The JupyterLab extension with engines, end to end: a real JupyterLab from the venv with the
 * extension installed by `hpc-jupyter jupyterlab install`, driven in Debian's Chromium with
 * playwright-core, on the 4-node Slurm test cluster. Dask on 4 nodes from the launch form, its
 * client inserted into a notebook (button and drag), a pi cell run on the cluster, the Dask
 * dashboard in a sandboxed main-area panel (opaque origin) by a capability link, a page reload, scale from the
 * card, stop; an ipyparallel cluster scaled from its card too; then a kernel installed from the
 * sidebar and started from the Launcher without reloading the page.
 * Screenshots of every step go to .artifacts/jupyterlab/ (prefixed "engines-").
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import { startJupyter, type JupyterProcess } from './jupyter-server.js';
import { installLabExtension, launchChromium } from './jupyterlab-support.js';
import {
  cli,
  waitLeftSqueue,
  privateAgentEnv,
  REPO_ROOT,
  stopPrivateAgent,
  testCluster,
} from './support.js';

const ARTIFACTS = join(REPO_ROOT, '.artifacts', 'jupyterlab');
const TOKEN = `t${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
const KERNEL_NAME = 'Slurm 4-node Spark';
/** Spark's workers get a node's CPUs each: 4 nodes x 2 CPUs per node (one worker per node). */
const SPARK_CORES = 4 * 2;

let env: Record<string, string>;
let configDir: string;
let lab: JupyterProcess | undefined;
let labUrl: string;
let browser: Browser;
let page: Page;
let agent: AgentClient;
let step = 0;
const timings: Record<string, number> = {};

async function shot(name: string, target: Page = page): Promise<void> {
  step++;
  await target.screenshot({
    path: join(ARTIFACTS, `engines-${String(step).padStart(2, '0')}-${name}.png`),
  });
}

const sidebar = () => page.locator('#hpc-jupyter-sidebar');
const card = (id: string) => sidebar().locator(`.hpcj-session[data-session-id="${id}"]`);

/** Runs a JupyterLab command in the page (the app is exposed by --expose_app_in_browser). */
async function command(id: string, args: object = {}): Promise<void> {
  await page.evaluate(
    async ([cmd, a]) => {
      const app = (
        window as unknown as {
          jupyterapp: { commands: { execute(id: string, args: object): Promise<unknown> } };
        }
      ).jupyterapp;
      await app.commands.execute(cmd, a);
    },
    [id, args] as const,
  );
}

/** The sources of the cells of the current notebook. */
function cellSources(): Promise<string[]> {
  return page.evaluate(() => {
    const app = (
      window as unknown as {
        jupyterapp: {
          shell: {
            currentWidget: {
              content?: { model?: { sharedModel: { cells: { source: string }[] } } };
            } | null;
          };
        };
      }
    ).jupyterapp;
    return (app.shell.currentWidget?.content?.model?.sharedModel.cells ?? []).map((c) => c.source);
  });
}

/** Appends a code cell to the current notebook, runs it, and returns its output area. */
async function runNewCell(code: string): Promise<Locator> {
  const { panel, index } = await page.evaluate((source) => {
    const app = (
      window as unknown as {
        jupyterapp: {
          shell: {
            currentWidget: {
              id: string;
              content: {
                activeCellIndex: number;
                model: {
                  sharedModel: {
                    cells: unknown[];
                    insertCell(i: number, c: object): void;
                  };
                };
              };
            };
          };
        };
      }
    ).jupyterapp;
    const widget = app.shell.currentWidget;
    const nb = widget.content;
    const at = nb.model.sharedModel.cells.length;
    nb.model.sharedModel.insertCell(at, { cell_type: 'code', source, metadata: {} });
    nb.activeCellIndex = at;
    return { panel: widget.id, index: at };
  }, code);
  await command('notebook:run-cell');
  // This notebook's cells only: another notebook may be visible next to it (a split area).
  return page.locator(`[id="${panel}"] .jp-Notebook .jp-Cell`).nth(index);
}

async function runActiveCell(): Promise<Locator> {
  const { panel, index } = await page.evaluate(() => {
    const app = (
      window as unknown as {
        jupyterapp: {
          shell: { currentWidget: { id: string; content: { activeCellIndex: number } } };
        };
      }
    ).jupyterapp;
    const widget = app.shell.currentWidget;
    return { panel: widget.id, index: widget.content.activeCellIndex };
  });
  await command('notebook:run-cell');
  return page.locator(`[id="${panel}"] .jp-Notebook .jp-Cell`).nth(index);
}

async function startLab(labEnv: NodeJS.ProcessEnv): Promise<void> {
  lab = await startJupyter({
    app: 'lab',
    env: labEnv,
    token: TOKEN,
    rootDir: mkdtempSync(join(tmpdir(), 'hpcj-lab-root-')),
  });
  labUrl = lab.url;
}

async function stopLab(): Promise<void> {
  const current = lab;
  lab = undefined;
  await current?.stop();
}

async function openSidebar(): Promise<void> {
  // JupyterLab's own "news?" toast would cover part of every screenshot.
  await page
    .locator('.jp-toast-button', { hasText: 'No' })
    .click({ timeout: 3000 })
    .catch(() => undefined);
  await page.locator('li[data-id="hpc-jupyter-sidebar"]').click();
  await sidebar().locator('.hpcj-status[data-connection="live"]').waitFor({ timeout: 60_000 });
  await sidebar().locator('.hpcj-template[data-template="dask"]').waitFor({ timeout: 60_000 });
}

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const cluster = await testCluster();
  // A private config directory: the kernel installed from the sidebar writes its profile here
  // (profiles.yaml), not into the shared test cluster's file.
  configDir = mkdtempSync(join(tmpdir(), 'hpcj-lab-config-'));
  copyFileSync(cluster.configFile, join(configDir, 'clusters.yaml'));
  const prefix = mkdtempSync(join(tmpdir(), 'hpcj-lab-prefix-'));
  env = {
    ...privateAgentEnv(configDir),
    // Kernelspecs installed from the sidebar go to this private Jupyter data directory.
    JUPYTER_DATA_DIR: join(prefix, 'data'),
  };
  const labEnv = await installLabExtension(env, prefix);
  const listed = await cli(['list'], env);
  expect(listed.code, listed.stderr).toBe(0);
  agent = new AgentClient(agentSocketPath(env));
  await startLab(labEnv);
  browser = await launchChromium();
  page = await browser.newPage({
    viewport: { width: 1500, height: 950 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  page.setDefaultTimeout(60_000);
  await page.goto(`${labUrl}lab?token=${TOKEN}`);
}, 400_000);

afterAll(async () => {
  await (browser as Browser | undefined)?.close();
  await stopLab();
  await stopPrivateAgent(env);
  console.log(`jupyterlab-engines timings (s): ${JSON.stringify(timings)}`);
});

describe('engines from the HPC sidebar in a real JupyterLab on the Slurm test cluster', () => {
  let sessionId = '';
  let jobId = '';

  it('shows an invalid Dask form value inline and submits nothing', async () => {
    await openSidebar();
    await sidebar().locator('.hpcj-cluster-select').selectOption('testlab');
    await sidebar().locator('.hpcj-template[data-template="dask"] button').click();
    const form = sidebar().locator('form.hpcj-form[data-template="dask"]');
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
    await expect(form.locator('.hpcj-form-status').textContent()).resolves.toMatch(
      /nothing was submitted/,
    );
    await shot('dask-invalid-form');
    expect(await agent.sessions()).toHaveLength(0);
  }, 240_000);

  it('launches Dask on 4 nodes from the form; the card goes queued -> ready', async () => {
    const started = Date.now();
    // Every state any session card is drawn in, in order (cards are redrawn on each change).
    await page.evaluate(() => {
      const seen: string[] = [];
      (window as unknown as { hpcjStates: string[] }).hpcjStates = seen;
      const list = document.querySelector('#hpc-jupyter-sidebar .hpcj-sessions');
      if (list === null) throw new Error('no session list');
      new MutationObserver(() => {
        const state = list.querySelector('.hpcj-session')?.getAttribute('data-state');
        if (state != null && seen[seen.length - 1] !== state) seen.push(state);
      }).observe(list, { childList: true, subtree: true, attributes: true });
    });
    const form = sidebar().locator('form.hpcj-form[data-template="dask"]');
    await form.locator('input[name="nodes"]').fill('4');
    await form.locator('input[name="hours"]').fill('0.5');
    // One of each node's two CPUs, so that a scaled-up worker job fits beside it.
    await form.locator('input[name="cpusPerTask"]').fill('1');
    await form.locator('button[type="submit"]').click();
    const first = sidebar().locator('.hpcj-session').first();
    await first.waitFor({ timeout: 60_000 });
    sessionId = (await first.getAttribute('data-session-id')) ?? '';
    expect(sessionId).toMatch(/^s[0-9a-f]{12}$/);
    await shot(`dask-card-${(await first.getAttribute('data-state')) ?? ''}`);
    await card(sessionId).and(page.locator('[data-state="ready"]')).waitFor({ timeout: 900_000 });
    timings['daskSubmitToReady'] = (Date.now() - started) / 1000;
    const states = await page.evaluate(
      () => (window as unknown as { hpcjStates: string[] }).hpcjStates,
    );
    expect(states).toContain('queued');
    expect(states.indexOf('queued')).toBeLessThan(states.indexOf('ready'));
    const record = await agent.session(sessionId);
    jobId = record.jobId ?? '';
    expect(jobId).not.toBe('');
    await expect(card(sessionId).locator('.hpcj-nodes').textContent()).resolves.toMatch(
      /^4 nodes: /,
    );
    await expect(
      card(sessionId).locator('button[data-action="dashboard"]').textContent(),
    ).resolves.toBe('Dask dashboard');
    await shot('dask-card-ready');
  }, 960_000);

  it('inserts the client into a new notebook and runs pi on the cluster', async () => {
    await command('notebook:create-new', { kernelName: 'python3' });
    await page.locator('.jp-NotebookPanel .jp-Notebook').first().waitFor();
    await page
      .locator(
        '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator[data-status="idle"]',
      )
      .waitFor({ timeout: 90_000 })
      .catch(() => undefined);
    await card(sessionId).locator('button[data-action="insert-client"]').click();
    await expect
      .poll(async () => (await cellSources()).join('\n'), { timeout: 60_000 })
      .toContain(`client = hpc_dask("${sessionId}")`);
    await shot('dask-client-inserted');
    const started = Date.now();
    const clientCell = await runActiveCell();
    await expect
      .poll(() => clientCell.locator('.jp-OutputArea').textContent(), { timeout: 120_000 })
      .toMatch(/Client-[0-9a-f-]+.*Connection method:\s*Direct/s);
    await expect(clientCell.locator('.jp-OutputArea').textContent()).resolves.not.toMatch(
      /Traceback|Error/,
    );
    timings['clientConnect'] = (Date.now() - started) / 1000;
    const piStarted = Date.now();
    const piCell = await runNewCell(
      [
        'import random, socket',
        'def inside(n):',
        '    import random, socket',
        '    return socket.gethostname(), sum(random.random()**2 + random.random()**2 < 1 for _ in range(n))',
        'N, K = 200_000, 32',
        'results = client.gather(client.map(inside, [N] * K, pure=False))',
        'pi = 4 * sum(c for _, c in results) / (N * K)',
        'nodes = sorted(set(client.run(socket.gethostname).values()))',
        'print(f"pi={pi:.4f} from {K} tasks on {len(set(h for h, _ in results))} hosts;",',
        '      f"workers on {len(nodes)} nodes: {\',\'.join(nodes)}")',
      ].join('\n'),
    );
    const output = piCell.locator('.jp-OutputArea');
    await expect
      .poll(() => output.textContent(), { timeout: 180_000 })
      .toMatch(/pi=3\.1\d+ from 32 tasks on [1-4] hosts; workers on 4 nodes: node\d(,node\d){3}/);
    timings['piCell'] = (Date.now() - piStarted) / 1000;
    const text = (await output.textContent()) ?? '';
    const pi = Number(/pi=(\d\.\d+)/.exec(text)?.[1]);
    expect(Math.abs(pi - Math.PI)).toBeLessThan(0.02);
    await shot('dask-pi-result');
  }, 480_000);

  it('drags the session card onto the notebook: a client cell is dropped there', async () => {
    const before = (await cellSources()).filter((s) => s.includes('hpc_dask(')).length;
    const source = card(sessionId).locator('.hpcj-card-title');
    const target = page
      .locator('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')
      .first();
    const from = await source.boundingBox();
    const to = await target.boundingBox();
    if (from === null || to === null) throw new Error('nothing to drag or drop onto');
    await page.mouse.move(from.x + 10, from.y + from.height / 2);
    await page.mouse.down();
    for (let i = 1; i <= 10; i++) {
      await page.mouse.move(
        from.x + 10 + ((to.x + 60 - from.x - 10) * i) / 10,
        from.y + ((to.y + to.height / 2 - from.y) * i) / 10,
      );
    }
    await page.mouse.up();
    await expect
      .poll(async () => (await cellSources()).filter((s) => s.includes('hpc_dask(')).length)
      .toBe(before + 1);
    await shot('dask-card-dropped');
  }, 120_000);

  it('opens the Dask dashboard in a sandboxed, opaque-origin panel by a link, and it streams live data', async () => {
    const panelId = `hpc-jupyter-dashboard-${sessionId}-dashboard`;
    // Bokeh's WebSocket, through the link route: how many messages the dashboard got.
    let wsMessages = 0;
    let wsUrl = '';
    page.on('websocket', (ws) => {
      if (!ws.url().includes('/hpc-jupyter-ui/')) return;
      wsUrl = ws.url();
      ws.on('framereceived', () => {
        wsMessages++;
      });
    });
    await card(sessionId).locator('button[data-action="dashboard"]').click();
    const panel = page.locator(`#${panelId}`);
    await panel.waitFor();
    const iframe = panel.locator('iframe');
    await expect
      .poll(async () => (await iframe.getAttribute('src')) ?? '')
      .toMatch(/hpc-jupyter-ui/);
    const src = (await iframe.getAttribute('src')) ?? '';
    const link = new RegExp(`^${labUrl}hpc-jupyter-ui/([A-Za-z0-9_-]{43})/status$`).exec(src)?.[1];
    expect(link, src).toBeDefined();
    expect(src).not.toMatch(/token/);
    expect(await iframe.getAttribute('sandbox')).toBe('allow-scripts allow-forms allow-popups');
    expect(await iframe.getAttribute('referrerpolicy')).toBe('no-referrer');
    const frame = page.frameLocator(`#${panelId} iframe`);
    // Bokeh draws its plots on canvases once its WebSocket (through the link route) is up.
    await frame.locator('canvas').first().waitFor({ state: 'visible', timeout: 120_000 });
    await expect(frame.locator('a', { hasText: 'Workers' }).count()).resolves.toBeGreaterThan(0);
    expect(wsUrl).toContain(`/hpc-jupyter-ui/${link ?? ''}/status/ws`);
    // Live: the scheduler keeps pushing updates over the WebSocket.
    const before = wsMessages;
    await page.waitForTimeout(3000);
    expect(wsMessages).toBeGreaterThan(before);
    await shot('dask-dashboard');

    // The page cannot reach into the frame, nor the frame out: its origin is opaque.
    const fromPage = await page.evaluate((id) => {
      const f = document.querySelector(`#${id} iframe`) as HTMLIFrameElement;
      return { document: f.contentDocument === null, window: f.contentWindow !== null };
    }, panelId);
    expect(fromPage).toEqual({ document: true, window: true });
    const dashboard = page.frames().find((f) => f.url().includes('/hpc-jupyter-ui/'));
    if (dashboard === undefined) throw new Error('no dashboard frame');
    const probe = await dashboard.evaluate(async (base: string) => {
      const attempt = (url: string): Promise<string> =>
        fetch(url, { credentials: 'include' }).then(
          async (r) => `status ${r.status}: ${(await r.text()).slice(0, 80)}`,
          () => 'blocked',
        );
      const denied = (read: () => unknown): string => {
        try {
          return `read ${String(read())}`;
        } catch {
          return 'denied';
        }
      };
      return {
        origin: window.origin,
        cookie: denied(() => document.cookie),
        parent: denied(() => window.parent.document.title),
        storage: denied(() => window.localStorage.length),
        jupyterApi: await attempt(`${base}api/contents`),
        jupyterStatus: await attempt(`${base}api/status`),
        agent: await attempt(`${base}hpc-jupyter/v1/sessions`),
        own: await fetch(location.href).then(
          (r) => r.status,
          () => 'blocked',
        ),
      };
    }, labUrl);
    expect(probe).toEqual({
      origin: 'null',
      cookie: 'denied',
      parent: 'denied',
      storage: 'denied',
      jupyterApi: 'blocked',
      jupyterStatus: 'blocked',
      agent: 'blocked',
      own: 200,
    });

    // Closing the tab revokes its link.
    const linkUrl = `${labUrl}hpc-jupyter-ui/${link ?? ''}/status`;
    expect((await fetch(linkUrl)).status).toBe(200);
    await page.evaluate((id) => {
      const app = (
        window as unknown as {
          jupyterapp: { shell: { widgets(area: string): Iterable<{ id: string; close(): void }> } };
        }
      ).jupyterapp;
      for (const w of app.shell.widgets('main')) if (w.id === id) w.close();
    }, panelId);
    await expect.poll(async () => (await fetch(linkUrl)).status, { timeout: 10_000 }).toBe(404);
  }, 240_000);

  it('reloads the page while the cluster runs: still listed, dashboard still opens', async () => {
    await page.reload();
    await openSidebar();
    await card(sessionId).and(page.locator('[data-state="ready"]')).waitFor({ timeout: 60_000 });
    await card(sessionId).locator('button[data-action="dashboard"]').click();
    const frame = page.frameLocator(`#hpc-jupyter-dashboard-${sessionId}-dashboard iframe`);
    await frame.locator('canvas').first().waitFor({ state: 'visible', timeout: 120_000 });
    await shot('dask-after-reload');
  }, 240_000);

  it('copies the client code from the card', async () => {
    const copy = card(sessionId).locator('[data-action="copy-connection"]');
    await copy.click();
    await expect.poll(() => copy.textContent()).toBe('Copied');
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toContain(`"${sessionId}"`);
    expect(copied).toMatch(/^client = /m);
  });

  it('scales from the card to 5 nodes of workers and back to 4; the extra job leaves squeue', async () => {
    const extraCards = page.locator('.hpcj-session', {
      has: page.locator('.hpcj-line.hpcj-muted', { hasText: 'dask-workers on' }),
    });
    const before = (await agent.sessions()).length;
    await card(sessionId).locator('[data-action="scale"]').click();
    const nodes = card(sessionId).locator('input[name="scale-nodes"]');
    await expect(nodes.inputValue()).resolves.toBe('4');
    // Invalid: shown inline, nothing submitted.
    await nodes.fill('0');
    await nodes.press('Enter');
    await card(sessionId).locator('.hpcj-scale .hpcj-field-error').waitFor();
    expect((await agent.sessions()).length).toBe(before);
    await nodes.fill('5');
    await nodes.press('Enter');
    await extraCards.and(page.locator('[data-state="ready"]')).waitFor({ timeout: 240_000 });
    const extra = (await agent.sessions()).find(
      (s) => s.template === 'dask-workers' && s.params['cluster'] === sessionId,
    );
    expect(extra?.params['nodes']).toBe(1);
    expect(extra?.params['cpusPerTask']).toBe(1);
    await shot('dask-scaled-up');
    await card(sessionId).locator('[data-action="scale"]').click();
    await expect(nodes.inputValue()).resolves.toBe('5');
    await nodes.fill('4');
    await nodes.press('Enter');
    await extraCards
      .and(page.locator(':is([data-state="cancelled"], [data-state="completed"])'))
      .waitFor({ timeout: 120_000 });
    const extraJob = extra?.jobId ?? '';
    expect(extraJob).not.toBe('');
    await waitLeftSqueue(extraJob, 120_000, 'scaling down');
    await shot('dask-scaled-down');
  }, 480_000);

  it('stops after confirmation; the card ends and the job leaves squeue', async () => {
    await card(sessionId).getByRole('button', { name: 'Stop' }).click();
    const dialog = page.locator('.jp-Dialog');
    await dialog.waitFor();
    await dialog.locator('button.jp-mod-warn').click();
    await card(sessionId)
      .and(page.locator(':is([data-state="cancelled"], [data-state="completed"])'))
      .waitFor({ timeout: 120_000 });
    await shot('dask-stopped');
    await waitLeftSqueue(jobId, 120_000, 'stop');
  }, 300_000);

  it('scales an ipyparallel card to 5 nodes of engines and back to 4, then stops it', async () => {
    await sidebar().locator('.hpcj-template[data-template="ipyparallel"] button').click();
    const form = sidebar().locator('form.hpcj-form[data-template="ipyparallel"]');
    await form.waitFor();
    await form.locator('input[name="nodes"]').fill('4');
    await form.locator('input[name="hours"]').fill('0.5');
    await form.locator('button[type="submit"]').click();
    const ipp = sidebar()
      .locator('.hpcj-session', {
        has: page.locator('.hpcj-line.hpcj-muted', { hasText: /^ipyparallel on/ }),
      })
      .and(page.locator('[data-state="ready"]'));
    await ipp.waitFor({ timeout: 300_000 });
    const ippId = (await ipp.getAttribute('data-session-id')) ?? '';
    const extraCards = page.locator('.hpcj-session', {
      has: page.locator('.hpcj-line.hpcj-muted', { hasText: 'ipyparallel-engines on' }),
    });
    await card(ippId).locator('[data-action="scale"]').click();
    await expect(card(ippId).locator('form.hpcj-scale').getAttribute('aria-label')).resolves.toBe(
      'Scale the ipyparallel cluster',
    );
    const nodes = card(ippId).locator('input[name="scale-nodes"]');
    await expect(nodes.inputValue()).resolves.toBe('4');
    await nodes.fill('5');
    await nodes.press('Enter');
    await extraCards.and(page.locator('[data-state="ready"]')).waitFor({ timeout: 240_000 });
    const extra = (await agent.sessions()).find(
      (s) => s.template === 'ipyparallel-engines' && s.params['cluster'] === ippId,
    );
    expect(extra?.params['nodes']).toBe(1);
    expect(extra?.connection?.raw).toMatchObject({ kind: 'ipyparallel-engines', workers: 1 });
    await shot('ipyparallel-scaled-up');
    await card(ippId).locator('[data-action="scale"]').click();
    await expect(nodes.inputValue()).resolves.toBe('5');
    await nodes.fill('4');
    await nodes.press('Enter');
    await extraCards
      .and(page.locator(':is([data-state="cancelled"], [data-state="completed"])'))
      .waitFor({ timeout: 120_000 });
    await shot('ipyparallel-scaled-down');
    await card(ippId).getByRole('button', { name: 'Stop' }).click();
    await page.locator('.jp-Dialog button.jp-mod-warn').click();
    await card(ippId)
      .and(page.locator(':is([data-state="cancelled"], [data-state="completed"])'))
      .waitFor({ timeout: 120_000 });
  }, 600_000);

  it('installs "Slurm 4-node Spark" from the sidebar; it is in the Launcher without a reload and runs', async () => {
    await command('launcher:create');
    await sidebar().locator('.hpcj-template[data-template="spark-kernel"] button').click();
    const form = sidebar().locator('form.hpcj-form[data-template="spark-kernel"]');
    await form.waitFor();
    await form.locator('input[name="nodes"]').fill('4');
    await form.locator('input[name="hours"]').fill('0.5');
    await form.locator('input[name="cpusPerTask"]').fill('2');
    const perNode = form.locator('input[name="workersPerNode"]');
    if ((await perNode.count()) > 0) await perNode.fill('1');
    // A name is needed: shown inline, nothing installed.
    await form.locator('button[data-action="install-kernel"]').click();
    await expect(
      form.locator('.hpcj-field[data-field="kernelDisplayName"] .hpcj-field-error').textContent(),
    ).resolves.toMatch(/name/);
    await form.locator('input[name="kernelDisplayName"]').fill(KERNEL_NAME);
    await form.locator('button[data-action="install-kernel"]').click();
    await expect
      .poll(() => form.locator('.hpcj-form-status').textContent(), { timeout: 60_000 })
      .toMatch(/Installed/);
    const profiles = readFileSync(join(configDir, 'profiles.yaml'), 'utf8');
    expect(profiles).toMatch(/slurm-4-node-spark:\n(.*\n)*?\s+template: spark-kernel/);
    const launcherCard = page.locator(`.jp-LauncherCard[title="${KERNEL_NAME}"]`).first();
    await launcherCard.waitFor({ timeout: 30_000 });
    await shot('kernel-in-launcher');
    const started = Date.now();
    await launcherCard.click();
    // The new notebook is the current widget once its model exists, and can run a cell once
    // its kernel (our launcher, which answers at once) is attached: JupyterLab silently skips a
    // cell run before that.
    await page.waitForFunction(
      () => {
        const app = (
          window as unknown as {
            jupyterapp: {
              shell: {
                currentWidget: {
                  node: HTMLElement;
                  content?: { model?: unknown };
                  sessionContext?: { session?: { kernel?: { status: string } | null } | null };
                } | null;
              };
            };
          }
        ).jupyterapp;
        const w = app.shell.currentWidget;
        const status = w?.sessionContext?.session?.kernel?.status;
        return (
          w?.node.classList.contains('jp-NotebookPanel') === true &&
          w.content?.model != null &&
          (status === 'idle' || status === 'busy')
        );
      },
      undefined,
      { timeout: 120_000 },
    );
    const cell = await runNewCell(
      'import os\nprint("nodes", os.environ.get("SLURM_JOB_NUM_NODES"), "parallelism", sc.defaultParallelism)',
    );
    // The kernel holds the cell while its job queues (the cluster is shared: allow for a wait).
    await expect
      .poll(() => cell.locator('.jp-OutputArea').textContent(), { timeout: 780_000 })
      .toMatch(/nodes \d+ parallelism \d+/);
    const ran = (await cell.locator('.jp-OutputArea').textContent()) ?? '';
    const parallelism = Number(/parallelism (\d+)/.exec(ran)?.[1]);
    expect(ran).toContain('nodes 4 ');
    const sparkSession = (await agent.sessions()).find((s) => s.template === 'spark-kernel');
    // What the job's Spark side reported (workers x cores each), else what the form asked for.
    const raw = sparkSession?.connection?.raw ?? {};
    const expected =
      typeof raw['workers'] === 'number' && typeof raw['cores_per_worker'] === 'number'
        ? raw['workers'] * raw['cores_per_worker']
        : SPARK_CORES;
    expect(parallelism).toBe(expected);
    expect(parallelism).toBeGreaterThanOrEqual(6);
    timings['kernelLauncherToResult'] = (Date.now() - started) / 1000;
    await shot('kernel-ran');
    const kernelSession = (await agent.sessions()).find(
      (s) => s.template === 'spark-kernel' && s.state === 'ready',
    );
    expect(kernelSession).toBeDefined();
    // The command resolves only once its confirmation dialog is answered: start it, then answer.
    const closing = command('notebook:close-and-shutdown');
    await page.locator('.jp-Dialog button.jp-mod-accept').click({ timeout: 10_000 });
    await closing;
    // Shutting the kernel down ends its job.
    const kernelJob = kernelSession?.jobId ?? '';
    expect(kernelJob).not.toBe('');
    await waitLeftSqueue(kernelJob, 120_000, 'shutdown');
    await shot('kernel-shut-down');
  }, 1_200_000);
});
