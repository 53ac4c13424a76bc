/**
 * Issue 14 finding 5, the dashboard panel's capability links: a Dask dashboard on the Slurm test
 * cluster, served through a real Jupyter server's `<base_url>hpc-jupyter-ui/<link>/` route
 * (hpc_jupyter.ui_route, enabled by the package's own jupyter_server_config.d file) to the
 * owner's agent. The owner's link serves the dashboard; a wrong, malformed, revoked or idle-expired
 * link, and any link once its session has ended, gets 404 (HTTP and WebSocket); the owner's link
 * on the second user's route (that user's Jupyter server, reaching only that user's own agent)
 * gets 404 from that agent; and the route gives nothing of Jupyter (no API behind it, no use for
 * the Jupyter token). The frame's opaque origin in Chromium is in jupyterlab-engines.test.ts.
 * Prints how many attacks were tried and how many refused.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { freePorts } from '../../packages/core/src/kernel/kernel-client.testutil.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import { asOther, spawnAs, until, type UserProcess } from './as-user.js';
import { startEngine, stopEngine, type EngineSession } from './engines-support.js';
import { startJupyter, VENV_BIN, type JupyterProcess } from './jupyter-server.js';
import { enableUiRoute } from './jupyterlab-support.js';
import { OTHER_USER } from './second-user.js';
import { CLI, privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

/** Short, so that the idle test waits seconds, not the default half hour. */
const IDLE_SECONDS = 8;
const TOKEN = randomBytes(16).toString('hex');

let env: Record<string, string>;
let dask: EngineSession | undefined;
let owner: JupyterProcess | undefined;
let other: UserProcess | undefined;
let otherUrl = '';
let otherTmp = '';
const attempts: { what: string; status: number | string }[] = [];

/** The agent's API over its socket, as the sidebar calls it (with the client header). */
function agentCall(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath: agentSocketPath(env),
        method,
        path,
        headers: {
          'x-hpc-jupyter': '1',
          ...(data === undefined ? {} : { 'content-type': 'application/json' }),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          resolve({
            status: res.statusCode ?? 0,
            json: text === '' ? undefined : JSON.parse(text),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

async function mint(): Promise<string> {
  if (dask === undefined) throw new Error('no session');
  const r = await agentCall('POST', `/v1/sessions/${dask.id}/endpoints/dashboard/ui-link`);
  expect(r.status, JSON.stringify(r.json)).toBe(201);
  const { link, idleSeconds } = r.json as { link: string; idleSeconds: number };
  expect(idleSeconds).toBe(IDLE_SECONDS);
  return link;
}

function ownerRoute(link: string, path = '/status'): string {
  if (owner === undefined) throw new Error('no Jupyter server');
  return `${owner.url}hpc-jupyter-ui/${link}${path}`;
}

/** A GET as an attacker would send it; records the answer. */
async function attack(
  what: string,
  url: string,
  headers: Record<string, string> = {},
): Promise<number> {
  const r = await fetch(url, { headers, redirect: 'manual' });
  attempts.push({ what, status: r.status });
  return r.status;
}

/** The status of a GET whose path goes out exactly as written. */
function rawStatus(url: string, headers: Record<string, string>): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    http
      .get({ host: u.hostname, port: u.port, path: url.slice(u.origin.length), headers }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

/** A WebSocket upgrade from a sandboxed frame's origin; the HTTP status it got, or 101. */
function upgrade(what: string, url: string): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['bokeh'], { origin: 'null' });
    let answered = false;
    const done = (status: number): void => {
      if (answered) return;
      answered = true;
      attempts.push({ what, status });
      ws.terminate();
      resolve(status);
    };
    ws.on('unexpected-response', (_req, res) => {
      done(res.statusCode ?? 0);
    });
    ws.on('open', () => {
      done(101);
    });
    ws.on('error', () => {
      done(-1);
    });
  });
}

beforeAll(async () => {
  const cluster = await testCluster();
  env = {
    ...privateAgentEnv(cluster.configFile),
    HPC_JUPYTER_UI_LINK_IDLE_SECONDS: String(IDLE_SECONDS),
  };
  dask = await startEngine(env, 'dask', ['--nodes', '1', '--param', 'cpusPerTask=1']);
  const prefix = mkdtempSync('/tmp/hpcj-uil-owner-');
  owner = await startJupyter({
    app: 'server',
    env: {
      ...process.env,
      ...env,
      PATH: `${VENV_BIN}:${process.env.PATH ?? ''}`,
      ...enableUiRoute(prefix),
    },
    token: TOKEN,
    rootDir: prefix,
  });

  // The second user: a Jupyter server of their own with the route, and an agent of their own.
  otherTmp = (await asOther(['mktemp', '-d', '/tmp/hpcj-uil-other-XXXXXX'])).stdout.trim();
  const otherPrefix = mkdtempSync('/tmp/hpcj-uil-other-config-');
  const routeEnv = enableUiRoute(otherPrefix);
  chmodSync(otherPrefix, 0o755);
  const otherEnv = [
    `PATH=${VENV_BIN}:/usr/bin:/bin`,
    `TMPDIR=${otherTmp}`,
    `HOME=${otherTmp}`,
    'HPC_JUPYTER_AGENT_IDLE_SECONDS=120',
  ];
  const started = await asOther(['env', '-i', ...otherEnv, process.execPath, CLI, 'list']);
  expect(started.code, started.stderr).toBe(0);
  const [port] = (await freePorts(1)) as [number];
  const otherToken = randomBytes(16).toString('hex');
  other = spawnAs(
    OTHER_USER,
    [
      join(VENV_BIN, 'jupyter'),
      'server',
      '--no-browser',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${String(port)}`,
      '--ServerApp.port_retries=0',
      `--ServerApp.root_dir=${otherTmp}`,
    ],
    {
      PATH: `${VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`,
      TMPDIR: otherTmp,
      HOME: otherTmp,
      JUPYTER_TOKEN: otherToken,
      JUPYTER_RUNTIME_DIR: join(otherTmp, 'jupyter-runtime'),
      ...routeEnv,
    },
  );
  otherUrl = `http://127.0.0.1:${String(port)}/`;
  const proc = other;
  await until(
    `${OTHER_USER}'s jupyter server`,
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`jupyter server exited:\n${proc.output()}`);
      return fetch(`${otherUrl}api/status`, { headers: { authorization: `token ${otherToken}` } })
        .then((r) => r.ok)
        .catch(() => false);
    },
    90_000,
  );
}, 500_000);

afterAll(async () => {
  const refused = attempts.filter((a) => a.status !== 200 && a.status !== 101).length;
  console.log(`UI link attacks: ${attempts.length} tried, ${refused} refused`);
  for (const a of attempts) console.log(`  ${String(a.status).padEnd(4)} ${a.what}`);
  await other?.stop();
  if (otherTmp !== '') {
    await asOther([
      'env',
      '-i',
      `PATH=/usr/bin:/bin`,
      `TMPDIR=${otherTmp}`,
      `HOME=${otherTmp}`,
      process.execPath,
      CLI,
      'agent',
      'stop',
    ]);
    await asOther(['rm', '-rf', otherTmp]);
  }
  await owner?.stop();
  await stopPrivateAgent(env);
}, 300_000);

describe('capability links to a web UI, through the Jupyter server route', () => {
  it("serves the owner's dashboard by its link, marked no-referrer and no-store, with no cookie set", async () => {
    const link = await mint();
    const page = await fetch(ownerRoute(link));
    expect(page.status, await page.clone().text()).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('referrer-policy')).toBe('no-referrer');
    expect(page.headers.get('cache-control')).toBe('no-store');
    expect(page.headers.get('set-cookie')).toBeNull();
    expect(await page.text()).toMatch(/bokeh/i);
    const counts = await fetch(ownerRoute(link, '/json/counts.json'), {
      headers: { origin: 'null' },
    });
    expect(counts.status).toBe(200);
    expect(counts.headers.get('access-control-allow-origin')).toBe('null');
    expect(counts.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('refuses a wrong link, a malformed one and a made-up one (404), for HTTP and WebSockets', async () => {
    const link = await mint();
    const flipped = `${link.slice(0, 20)}${link[20] === 'A' ? 'B' : 'A'}${link.slice(21)}`;
    expect(await attack('link with one character changed', ownerRoute(flipped))).toBe(404);
    expect(await attack('made-up link', ownerRoute(randomBytes(32).toString('base64url')))).toBe(
      404,
    );
    expect(await attack('truncated link', ownerRoute(link.slice(0, 42)))).toBe(404);
    expect(await attack('no link', `${owner?.url ?? ''}hpc-jupyter-ui/`)).toBe(404);
    expect(await upgrade('WebSocket, changed link', ownerRoute(flipped, '/status/ws'))).toBe(404);
    expect((await fetch(ownerRoute(link))).status).toBe(200);
  });

  it('refuses a link once revoked (the tab closed), for HTTP and WebSockets', async () => {
    const link = await mint();
    expect((await fetch(ownerRoute(link))).status).toBe(200);
    const revoked = await agentCall('POST', '/v1/ui-links/revoke', { link });
    expect(revoked.json).toEqual({ revoked: true });
    expect(await attack('revoked link', ownerRoute(link))).toBe(404);
    expect(await upgrade('WebSocket, revoked link', ownerRoute(link, '/status/ws'))).toBe(404);
  });

  it('refuses a link left unused past its idle time; one in use stays', async () => {
    const idle = await mint();
    const used = await mint();
    for (let t = 0; t < IDLE_SECONDS + 3; t += 3) {
      expect((await fetch(ownerRoute(used, '/json/counts.json'))).status).toBe(200);
      await new Promise((r) => setTimeout(r, 3000));
    }
    expect(await attack(`link idle for over ${IDLE_SECONDS} s`, ownerRoute(idle))).toBe(404);
    expect((await fetch(ownerRoute(used))).status).toBe(200);
  }, 60_000);

  it("refuses the owner's link on the second user's route: it reaches only that user's agent", async () => {
    const link = await mint();
    const r = await fetch(`${otherUrl}hpc-jupyter-ui/${link}/status`);
    attempts.push({ what: `owner's link on ${OTHER_USER}'s route`, status: r.status });
    expect(r.status).toBe(404);
    // The answer is that agent's: it runs, and knows no such link.
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(
      /No web UI at this link: it is unknown, expired or revoked/,
    );
    expect((await fetch(ownerRoute(link))).status).toBe(200);
  });

  it('gives nothing of Jupyter: no API behind the route, and the Jupyter token opens no link', async () => {
    const link = await mint();
    const auth = { authorization: `token ${TOKEN}` };
    // Paths that climb out of the link are refused, sent as is (fetch() and browsers would
    // resolve the dot segments before sending).
    for (const climb of ['/%2e%2e/%2e%2e/api/contents', '/../../api/contents']) {
      const status = await rawStatus(ownerRoute(link, climb), auth);
      attempts.push({ what: `climbing out of the link: ${climb}`, status });
      expect(status).toBe(400);
    }
    const withToken = `${owner?.url ?? ''}hpc-jupyter-ui/${randomBytes(32).toString('base64url')}/status?token=${TOKEN}`;
    expect(await attack('a made-up link with the Jupyter token', withToken, auth)).toBe(404);
    expect(
      await attack('the link from a foreign origin', ownerRoute(link), {
        origin: 'http://evil.example',
      }),
    ).toBe(403);
  });

  it('refuses every link once its session has ended', async () => {
    if (dask === undefined) throw new Error('no session');
    const link = await mint();
    expect((await fetch(ownerRoute(link))).status).toBe(200);
    await stopEngine(env, dask);
    expect(await attack('link of an ended session', ownerRoute(link))).toBe(404);
    const again = await agentCall('POST', `/v1/sessions/${dask.id}/endpoints/dashboard/ui-link`);
    expect(again.status).toBe(404);
    dask = undefined;
  }, 180_000);
});
