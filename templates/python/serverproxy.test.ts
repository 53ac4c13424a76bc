/**
 * The JupyterLab route's relay (hpc_jupyter/serverproxy.py), run in the job venv's Python from
 * this source tree, between a client and an agent stand-in on the agent's socket: it relays a
 * request to our socket; it refuses (503, with why and what to do) a runtime directory that is
 * open to others or is a symlink, without connecting; it creates a missing directory 0700; and a
 * missing agent that cannot be started gives a clear 503 too. The real Jupyter server, agent and
 * second user are in test/e2e/second-user-install.test.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, stat, symlink } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const PYTHON = ['/opt/hpc-jupyter/venv/bin/python', '.venv/bin/python'].find((p) => existsSync(p));
const SOURCE = path.dirname(fileURLToPath(import.meta.url));

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** An agent stand-in on `socket` that answers every request with its path and counts them. */
async function fakeAgent(socket: string): Promise<{ requests: () => number }> {
  let n = 0;
  const server = http.createServer((req, res) => {
    n++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ path: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      }),
  );
  return { requests: () => n };
}

async function startRelay(env: Record<string, string>): Promise<string> {
  if (PYTHON === undefined) throw new Error('no job venv: run scripts/install');
  const dir = await mkdtemp(path.join(tmpdir(), 'hpcj-relay-'));
  const listen = path.join(dir, 'socket');
  const child: ChildProcess = spawn(PYTHON, ['-m', 'hpc_jupyter.serverproxy', listen], {
    env: { PATH: process.env['PATH'] ?? '', PYTHONPATH: SOURCE, ...env },
    stdio: 'ignore',
  });
  cleanups.push(() => {
    child.kill('SIGKILL');
  });
  for (let i = 0; i < 100 && !existsSync(listen); i++) await new Promise((r) => setTimeout(r, 50));
  expect((await stat(listen)).mode & 0o777).toBe(0o600);
  return listen;
}

function get(socketPath: string, route: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    // A connection per request, as jupyter-server-proxy's client (tornado's, which never keeps
    // a connection alive) makes: the relay checks each connection.
    const req = http.request({ socketPath, path: route, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the hpc-jupyter route relay', () => {
  it('relays to our agent, and refuses an open or linked directory without connecting', async () => {
    const xdg = await mkdtemp(path.join(tmpdir(), 'hpcj-xdg-'));
    const dir = path.join(xdg, 'hpc-jupyter');
    await mkdir(dir, { mode: 0o700 });
    const agent = await fakeAgent(path.join(dir, 'agent.sock'));
    const relay = await startRelay({ XDG_RUNTIME_DIR: xdg });
    expect(await get(relay, '/v1/health')).toEqual({ status: 200, body: { path: '/v1/health' } });
    expect(agent.requests()).toBe(1);

    await chmod(dir, 0o755);
    const open = await get(relay, '/v1/health');
    expect(open).toMatchObject({
      status: 503,
      body: {
        error: {
          kind: 'AgentRefused',
          message: `Refusing to use ${dir}: its mode is 0755, not 0700.`,
          hint: `Run \`chmod 700 ${dir}\` if you made it, or remove it.`,
        },
      },
    });

    await chmod(dir, 0o700);
    const elsewhere = path.join(xdg, 'elsewhere');
    await rename(dir, elsewhere);
    await symlink(elsewhere, dir);
    const linked = await get(relay, '/v1/health');
    expect(linked.status).toBe(503);
    expect(JSON.stringify(linked.body)).toContain('is not a plain directory');
    expect(agent.requests()).toBe(1);
  });

  it('creates a missing directory 0700, and says so clearly when no agent can be started', async () => {
    const xdg = await mkdtemp(path.join(tmpdir(), 'hpcj-xdg-'));
    const relay = await startRelay({
      XDG_RUNTIME_DIR: xdg,
      HPC_JUPYTER_COMMAND: '/nonexistent/hpc-jupyter',
    });
    const answer = await get(relay, '/v1/health');
    expect((await stat(path.join(xdg, 'hpc-jupyter'))).mode & 0o777).toBe(0o700);
    expect(answer.status).toBe(503);
    expect(JSON.stringify(answer.body)).toMatch(/hpc-jupyter agent/);
  });
});
