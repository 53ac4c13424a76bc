/**
 * The web UI link route (hpc_jupyter/ui_route.py) in a real jupyter_server from the job venv,
 * run from this source tree, in front of an agent stand-in on the user's agent socket: it
 * forwards HTTP and WebSockets (subprotocols too) to the agent's `/ui/<link>/` with no cookie,
 * credential, Origin or Referer of the browser and the prefix the browser sees as
 * X-Forwarded-Context; it answers no-referrer and no-store and passes on no Set-Cookie; it takes
 * no Jupyter login nor XSRF token but refuses a foreign Origin, dot segments and an agent
 * directory others may enter (serverproxy's checks) before reaching the agent; and the server's
 * log never holds the link. The real agent, UIs and browser are in
 * test/e2e/jupyterlab-engines.test.ts and test/e2e/second-user-ui-links.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';

const VENV = ['/opt/hpc-jupyter/venv', '.venv'].find((p) => existsSync(`${p}/bin/jupyter`));
const SOURCE = path.dirname(fileURLToPath(import.meta.url));
const LINK = 'L'.repeat(20) + 'x_-'.repeat(7) + '12';
const OTHER = 'Q'.repeat(43);
const TOKEN = 'route-test-token';

let agent: http.Server;
let agentRequests = 0;
let jupyter: ChildProcess | undefined;
let base = '';
let agentDir = '';
let log = '';

beforeAll(async () => {
  if (VENV === undefined) throw new Error('no job venv: run scripts/install');
  expect(LINK).toHaveLength(43);
  const runtime = await mkdtemp(path.join(tmpdir(), 'hpcj-ui-route-'));
  agentDir = path.join(runtime, 'hpc-jupyter');
  await mkdir(agentDir, { mode: 0o700 });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => (protocols.has('bokeh') ? 'bokeh' : false),
  });
  agent = http.createServer((req, res) => {
    agentRequests++;
    if (!(req.url ?? '').startsWith(`/ui/${LINK}/`)) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'No web UI at this link.' } }));
      return;
    }
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'set-cookie': 'ui=1; Path=/',
        'cache-control': 'max-age=3600',
      });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
    });
  });
  agent.on('upgrade', (req, socket, head) => {
    agentRequests++;
    if (!(req.url ?? '').startsWith(`/ui/${LINK}/`)) {
      socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send(JSON.stringify({ url: req.url, headers: req.headers }));
      ws.on('message', (data, binary) => {
        ws.send(data, { binary });
      });
    });
  });
  await new Promise<void>((resolve) => {
    agent.listen(path.join(runtime, 'hpc-jupyter', 'agent.sock'), resolve);
  });
  const port = await new Promise<number>((resolve) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const p = (probe.address() as AddressInfo).port;
      probe.close(() => {
        resolve(p);
      });
    });
  });
  const child = spawn(
    `${VENV}/bin/jupyter`,
    [
      'server',
      '--no-browser',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.base_url=/base/',
      '--ServerApp.jpserver_extensions=hpc_jupyter.ui_route=True',
      '--ServerApp.log_level=DEBUG',
      `--ServerApp.root_dir=${runtime}`,
      ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
    ],
    {
      env: {
        PATH: process.env['PATH'] ?? '',
        HOME: runtime,
        PYTHONPATH: SOURCE,
        XDG_RUNTIME_DIR: runtime,
        JUPYTER_RUNTIME_DIR: path.join(runtime, 'jr'),
        JUPYTER_CONFIG_DIR: path.join(runtime, 'jc'),
        JUPYTER_TOKEN: TOKEN,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  jupyter = child;
  child.stderr.on('data', (d: Buffer) => (log += d.toString()));
  child.stdout.on('data', (d: Buffer) => (log += d.toString()));
  base = `http://127.0.0.1:${port}/base/`;
  for (let i = 0; ; i++) {
    const ok = await fetch(`${base}api/status?token=${TOKEN}`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (i > 240 || child.exitCode !== null)
      throw new Error(`jupyter server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}, 90_000);

afterAll(async () => {
  jupyter?.kill('SIGKILL');
  await new Promise((resolve) => agent.close(resolve));
});

/** The status of a GET whose path goes out exactly as written (no dot-segment resolution). */
function rawStatus(url: string): Promise<number> {
  const u = new URL(url);
  const path = url.slice(u.origin.length);
  return new Promise((resolve, reject) => {
    http
      .get({ host: u.hostname, port: u.port, path }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

interface Seen {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

describe('the hpc-jupyter-ui route of a Jupyter server', () => {
  it('forwards a link request to the agent without the browser credentials, and marks the answer', async () => {
    const r = await fetch(`${base}hpc-jupyter-ui/${LINK}/status?x=1`, {
      headers: {
        cookie: `username-127-0-0-1="secret"; _xsrf=abc`,
        authorization: `token ${TOKEN}`,
        origin: 'null',
        referer: `${base}lab`,
        'sec-fetch-site': 'cross-site',
        'x-forwarded-host': 'evil.example',
      },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('referrer-policy')).toBe('no-referrer');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('set-cookie')).toBeNull();
    expect(r.headers.get('access-control-allow-origin')).toBe('null');
    expect(r.headers.get('access-control-allow-credentials')).toBeNull();
    const seen = (await r.json()) as Seen;
    expect(seen.url).toBe(`/ui/${LINK}/status?x=1`);
    for (const name of [
      'cookie',
      'authorization',
      'origin',
      'referer',
      'sec-fetch-site',
      'x-forwarded-host',
    ]) {
      expect(seen.headers[name], name).toBeUndefined();
    }
    expect(seen.headers['x-forwarded-context']).toBe(`/base/hpc-jupyter-ui/${LINK}`);
  });

  it('takes a POST without Jupyter login or XSRF token, with its body', async () => {
    const r = await fetch(`${base}hpc-jupyter-ui/${LINK}/kill`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'id=3',
    });
    expect(r.status).toBe(200);
    const seen = (await r.json()) as Seen;
    expect([seen.method, seen.body, seen.headers['content-type']]).toEqual([
      'POST',
      'id=3',
      'application/x-www-form-urlencoded',
    ]);
  });

  it('passes the path on as the browser sent it, and refuses dot segments', async () => {
    const r = await fetch(`${base}hpc-jupyter-ui/${LINK}/a%2Fb%3Fc?d=%2F`);
    expect(((await r.json()) as Seen).url).toBe(`/ui/${LINK}/a%2Fb%3Fc?d=%2F`);
    const before = agentRequests;
    // Sent as is: fetch() would resolve the dot segments itself, as browsers do.
    for (const climb of ['/%2e%2e/%2e%2e/api/contents', '/x/%2E/y', '/../../api/contents']) {
      expect(await rawStatus(`${base}hpc-jupyter-ui/${LINK}${climb}`), climb).toBe(400);
    }
    expect(agentRequests).toBe(before);
  });

  it("passes the agent's 404 for an unknown link, and answers 404 itself for a malformed one", async () => {
    expect((await fetch(`${base}hpc-jupyter-ui/${OTHER}/status`)).status).toBe(404);
    const before = agentRequests;
    expect((await fetch(`${base}hpc-jupyter-ui/short/status`)).status).toBe(404);
    expect(agentRequests).toBe(before);
  });

  it('refuses a foreign Origin before reaching the agent, for HTTP and WebSockets', async () => {
    const before = agentRequests;
    const r = await fetch(`${base}hpc-jupyter-ui/${LINK}/status`, {
      headers: { origin: 'http://evil.example' },
    });
    expect(r.status).toBe(403);
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}hpc-jupyter-ui/${LINK}/status/ws`, {
      origin: 'http://evil.example',
    });
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
      });
      ws.on('open', () => {
        resolve(101);
      });
      ws.on('error', () => {
        resolve(-1);
      });
    });
    expect(status).toBe(403);
    expect(agentRequests).toBe(before);
  });

  it('relays a WebSocket from Origin null, with the subprotocol the UI chose', async () => {
    const ws = new WebSocket(
      `${base.replace(/^http/, 'ws')}hpc-jupyter-ui/${LINK}/status/ws?bokeh-session-id=1`,
      ['bokeh', 'c2Vzc2lvbi10b2tlbg'],
      { origin: 'null', headers: { cookie: 'username-127-0-0-1="secret"' } },
    );
    const messages: string[] = [];
    const opened = new Promise<void>((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    ws.on('message', (data: Buffer) => messages.push(data.toString()));
    await opened;
    expect(ws.protocol).toBe('bokeh');
    ws.send('ping-from-frame');
    for (let i = 0; i < 100 && messages.length < 2; i++)
      await new Promise((r) => setTimeout(r, 50));
    const first = JSON.parse(messages[0] ?? '{}') as { url: string; headers: IncomingHttpHeaders };
    expect(first.url).toBe(`/ui/${LINK}/status/ws?bokeh-session-id=1`);
    expect(first.headers.cookie).toBeUndefined();
    expect(first.headers.origin).toBeUndefined();
    expect(messages[1]).toBe('ping-from-frame');
    ws.close();
  });

  it("refuses, without connecting, an agent directory others may enter (serverproxy's checks)", async () => {
    await chmod(agentDir, 0o755);
    const before = agentRequests;
    try {
      const r = await fetch(`${base}hpc-jupyter-ui/${LINK}/status`);
      expect(r.status).toBe(503);
      const body = (await r.json()) as { error: { message: string } };
      expect(body.error.message).toMatch(/its mode is 0755, not 0700/);
    } finally {
      await chmod(agentDir, 0o700);
    }
    expect(agentRequests).toBe(before);
    expect((await fetch(`${base}hpc-jupyter-ui/${LINK}/status`)).status).toBe(200);
  });

  it('never writes the link into the server log, and loads without an auth warning', async () => {
    // A refused request is logged as a warning: with the link replaced.
    await fetch(`${base}hpc-jupyter-ui/${LINK}/x`, { headers: { origin: 'http://evil.example' } });
    await new Promise((r) => setTimeout(r, 300));
    expect(log).toContain('hpc-jupyter-ui/(link)/');
    expect(log).not.toContain(LINK);
    expect(log).not.toContain(OTHER);
    expect(log).toContain('hpc-jupyter: web UI links served at /base/hpc-jupyter-ui/');
    expect(log).not.toMatch(/without @allow_unauthenticated/);
  });
});
