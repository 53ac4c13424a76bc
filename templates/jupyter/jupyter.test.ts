// The rendered `jupyter` job, run for real with bash as the local scheduler would: JupyterLab
// comes up behind its token under /sessions/<id>/, the token stays out of argv, logs and
// connection.json, its kernels listen on unix sockets in a private runtime directory and on no
// TCP port, and SIGTERM to the job stops the server and its kernels and removes that directory.
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanup,
  descendants,
  jobLog,
  prepareSession,
  requireVenv,
  startJob,
  stopJob,
  waitForFile,
  waitGone,
  type RunningJob,
  type Session,
} from '../runtime/job-harness.js';

const TOKEN = 'hpcj-test-token-5f2b9c0e4d7a';

interface Connection {
  kind: string;
  host: string;
  port: number;
  baseUrl: string;
  pid: number;
  node: string;
}

/** TCP ports the process listens on (its socket inodes, looked up in /proc/net/tcp*). */
function tcpListenersOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // Closed while we looked.
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && f[9] !== undefined && inodes.has(f[9])) {
        ports.push(parseInt((f[1] ?? '').split(':')[1] ?? '0', 16));
      }
    }
  }
  return ports;
}

/** A variable of a running process's environment. */
function environOf(pid: number, name: string): string | undefined {
  const entry = readFileSync(`/proc/${pid}/environ`, 'latin1')
    .split('\0')
    .find((e) => e.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

let session: Session | undefined;
let job: RunningJob | undefined;
let seen: number[] = [];

beforeAll(() => {
  requireVenv();
});
afterEach(() => {
  cleanup(session, job, seen);
  session = undefined;
  job = undefined;
  seen = [];
});

describe('the jupyter template, run locally', () => {
  it('serves JupyterLab behind the token and stops cleanly on SIGTERM', async () => {
    session = await prepareSession('jupyter');
    writeFileSync(path.join(session.dir, 'token'), TOKEN, { mode: 0o600 });
    job = startJob(session);

    const file = await waitForFile(session, job, 'connection.json', 25_000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(session.dir).mode & 0o777).toBe(0o700);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(TOKEN);
    const conn = JSON.parse(text) as Connection;
    expect(conn).toMatchObject({
      kind: 'jupyter',
      host: '127.0.0.1',
      baseUrl: `/sessions/${session.id}/`,
    });
    expect(conn.port).toBeGreaterThan(0);
    expect(descendants(job.pid)).toContain(conn.pid);

    const base = `http://${conn.host}:${conn.port}${conn.baseUrl}`;
    const auth = { Authorization: `token ${TOKEN}` };
    const status = await fetch(`${base}api/status`, { headers: auth });
    expect(status.status, jobLog(session)).toBe(200);
    expect((await fetch(`${base}api/status`)).status).toBe(403);
    expect(
      (await fetch(`${base}api/status`, { headers: { Authorization: 'token wrong' } })).status,
    ).toBe(403);

    // A kernel, so that stopping also has to stop what the server started.
    const started = await fetch(`${base}api/kernels`, {
      method: 'POST',
      headers: auth,
      body: '{}',
    });
    expect(started.status, jobLog(session)).toBe(201);
    const kernelId = ((await started.json()) as { id: string }).id;

    // The kernel's channels are unix sockets beside its connection file, in a private runtime
    // directory; neither the kernel nor the server's other processes listen on TCP but the
    // server's own (token-protected) port.
    const runtime = environOf(conn.pid, 'JUPYTER_RUNTIME_DIR') ?? '';
    expect(statSync(runtime).mode & 0o777).toBe(0o700);
    const kernelInfo = JSON.parse(
      readFileSync(path.join(runtime, `kernel-${kernelId}.json`), 'utf8'),
    ) as Record<string, unknown>;
    expect(kernelInfo).toMatchObject({ transport: 'ipc' });
    const deadline = Date.now() + 30_000;
    while (!existsSync(`${String(kernelInfo['ip'])}-5`) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    for (const port of ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port']) {
      const socket = `${String(kernelInfo['ip'])}-${String(kernelInfo[port])}`;
      expect(socket.length).toBeLessThan(108);
      expect(statSync(socket).isSocket()).toBe(true);
    }
    const listening = descendants(job.pid).flatMap((pid) => {
      try {
        return tcpListenersOf(pid);
      } catch {
        return [];
      }
    });
    expect([...new Set(listening)]).toEqual([conn.port]);

    const ps = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    expect(ps).not.toContain(TOKEN);
    expect(jobLog(session)).not.toContain(TOKEN);

    seen = descendants(job.pid);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    const result = await stopJob(job);
    expect(result.code).toBe(143);
    expect(await waitGone(seen)).toEqual([]);
    expect(jobLog(session)).toContain('received SIGTERM');
    expect(existsSync(runtime)).toBe(false);
  });

  it('fails with a message when the token file is missing', async () => {
    session = await prepareSession('jupyter');
    job = startJob(session);
    const result = await job.exited;
    expect(result.code).toBe(1);
    expect(jobLog(session)).toMatch(/the Jupyter token is missing/);
  });
});
