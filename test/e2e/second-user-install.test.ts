/**
 * Second-user attack A2 of issue 14 (finding 2), on the install a site makes for everybody: the
 * wheels of `npm run dist` (hpc-jupyter and hpc-jupyter-job, copied alone into an empty
 * directory) pip-installed by root into one venv both users run Jupyter from, whose prefix then
 * holds the prebuilt extension (share/jupyter/labextensions) and the `hpc-jupyter` command; no
 * repository path is on the users' PATH or PYTHONPATH. hpcjother plants the owner's agent
 * directory (and a listening socket in it) in the shared temp directory, then swaps it for a
 * symlink: the owner's `<base_url>hpc-jupyter/` route answers a refusal that says why, and the
 * planted listener counts 0 connections. Without a plant, each user's route starts, with the
 * venv's `hpc-jupyter`, and reaches that user's own agent, in a directory the server made at
 * start and nobody else can enter.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../packages/core/src/kernel/kernel-client.testutil.js';
import { asOther, asRoot, OWNER, run, spawnAs, uidOf, until, type UserProcess } from './as-user.js';
import { cleanEnv, cmdlineOf, copyArtifacts, ensureDist } from './install-support.js';
import { OTHER_USER } from './second-user.js';
import { REPO_ROOT } from './support.js';

/** The users' PATH: the shared venv's bin, then the system's (no repository path). */
const systemPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

describe('A2: a shared --sys-prefix install routes each user to their own agent only', () => {
  let root: string;
  let venvPython: string;
  let bin: string;
  let sharedTmp: string;
  let ownerUid: number;
  let otherUid: number;
  const servers: UserProcess[] = [];

  beforeAll(async () => {
    ownerUid = await uidOf(OWNER);
    otherUid = await uidOf(OTHER_USER);
    await ensureDist();
    root = mkdtempSync('/tmp/hpcj-a2-');
    chmodSync(root, 0o755);
    const artifacts = join(root, 'artifacts');
    mkdirSync(artifacts);
    const wheels = copyArtifacts(artifacts, ['jobWheel', 'clientWheel']);
    // The administrator (root here) makes one venv for everybody and pip-installs the built
    // wheels into it; the dependencies (jupyter-server, jupyter-server-proxy, a Node.js) come
    // from the index (pip's cache), none from the repository or the jobs' venv.
    const home = join(root, 'root-home');
    mkdirSync(home);
    const pipEnv = cleanEnv(systemPath, home);
    const venv = join(root, 'venv');
    bin = join(venv, 'bin');
    await run(['env', '-i', ...envArgs(pipEnv), '/usr/bin/python3', '-m', 'venv', venv]);
    venvPython = join(bin, 'python');
    const started = Date.now();
    await run(
      [
        'env',
        '-i',
        ...envArgs(pipEnv),
        venvPython,
        '-m',
        'pip',
        'install',
        '--quiet',
        '--disable-pip-version-check',
        '--no-input',
        '--find-links',
        artifacts,
        wheels.jobWheel,
        wheels.clientWheel,
      ],
      600_000,
    );
    console.log(
      `pip install of the two wheels into the shared venv: ${String(Date.now() - started)} ms`,
    );
    // Installed into the venv's prefix by pip alone: the extension, the route, the command.
    expect(
      existsSync(join(venv, 'share/jupyter/labextensions/@hpc-jupyter/jupyterlab/install.json')),
    ).toBe(true);
    const route = await run([
      venvPython,
      '-c',
      'import importlib.metadata as m, hpc_jupyter.serverproxy as s; ' +
        'print(s.__file__); print([e.value for e in m.entry_points(group="jupyter_serverproxy_servers")])',
    ]);
    expect(route.startsWith(`${venv}/`), route).toBe(true);
    expect(route).toContain('hpc_jupyter.serverproxy:setup_hpc_jupyter');
    expect(route).not.toContain(REPO_ROOT);
    await run(['chmod', '-R', 'a+rX', root]);
    // The machine's shared temp directory, as /tmp is: world-writable and sticky.
    sharedTmp = join(root, 'tmp');
    mkdirSync(sharedTmp);
    chmodSync(sharedTmp, 0o1777);
  }, 900_000);

  afterAll(async () => {
    for (const s of servers) await s.stop();
    for (const user of [OWNER, OTHER_USER]) {
      await asRoot([
        'runuser',
        '-u',
        user,
        '--',
        'env',
        `TMPDIR=${sharedTmp}`,
        `PATH=${bin}:${systemPath}`,
        join(bin, 'hpc-jupyter'),
        'agent',
        'stop',
      ]);
    }
    await asRoot(['rm', '-rf', root]);
  }, 60_000);

  /** Jupyter server from the shared venv, as `user`, with the shared temp directory. */
  async function serverAs(
    user: string,
  ): Promise<{ url: string; token: string; proc: UserProcess }> {
    const [port] = (await freePorts(1)) as [number];
    const token = randomBytes(16).toString('hex');
    const home = (await asRoot(['runuser', '-u', user, '--', 'printenv', 'HOME'])).stdout.trim();
    // No HPC_JUPYTER_COMMAND: the route starts the agent with the `hpc-jupyter` on PATH, the
    // venv's, as a user who activated the venv has it.
    const env: NodeJS.ProcessEnv = {
      PATH: `${bin}:${systemPath}`,
      LANG: 'C.UTF-8',
      TMPDIR: sharedTmp,
      JUPYTER_TOKEN: token,
      HPC_JUPYTER_AGENT_IDLE_SECONDS: '120',
    };
    const proc = spawnAs(
      user,
      [
        venvPython,
        '-m',
        'jupyter_server',
        '--no-browser',
        '--ServerApp.ip=127.0.0.1',
        `--ServerApp.port=${String(port)}`,
        '--ServerApp.port_retries=0',
        `--ServerApp.root_dir=${home}`,
      ],
      env,
    );
    servers.push(proc);
    const url = `http://127.0.0.1:${String(port)}/`;
    await until(
      `${user}'s jupyter server`,
      async () => {
        if (proc.child.exitCode !== null)
          throw new Error(`jupyter server exited:\n${proc.output()}`);
        return fetch(`${url}api/status`, { headers: { authorization: `token ${token}` } })
          .then((r) => r.ok)
          .catch(() => false);
      },
      90_000,
    );
    return { url, token, proc };
  }

  const health = async (s: { url: string; token: string }) => {
    const res = await fetch(`${s.url}hpc-jupyter/v1/health`, {
      headers: { authorization: `token ${s.token}` },
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('refuses a planted directory and socket, and a symlink, without ever connecting', async () => {
    const planted = join(sharedTmp, `hpc-jupyter-${String(ownerUid)}`);
    expect((await asOther(['mkdir', '-m', '0777', planted])).code).toBe(0);
    // hpcjother's listener where the owner's agent socket would be; it counts connections.
    const counter = spawnAs(
      OTHER_USER,
      [
        'python3',
        '-c',
        [
          'import os, signal, socket, sys',
          'n = 0',
          's = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); os.chmod(sys.argv[1], 0o777); s.listen(16)',
          'signal.signal(signal.SIGTERM, lambda *a: (print("connections", n, flush=True), os._exit(0)))',
          'print("listening", flush=True)',
          'while True:',
          '    c, _ = s.accept(); n += 1; c.close()',
        ].join('\n'),
        join(planted, 'agent.sock'),
      ],
      { PATH: process.env['PATH'] },
    );
    await until('the planted listener', () => counter.output().includes('listening'));

    const owner = await serverAs(OWNER);
    // The server said at start why the route will refuse.
    expect(owner.proc.output()).toMatch(
      new RegExp(`hpc-jupyter: Refusing to use ${planted}: it belongs to user ${String(otherUid)}`),
    );
    const refused = await health(owner);
    expect(refused.status).toBe(503);
    expect(refused.body).toMatchObject({
      error: {
        kind: 'AgentRefused',
        message: `Refusing to use ${planted}: it belongs to user ${String(otherUid)}, not to you (${String(ownerUid)}).`,
      },
    });
    expect(JSON.stringify(refused.body)).toMatch(/intercept the agent/);

    // Swapped for a link to hpcjother's directory while the owner's server runs: checked again.
    const stash = join(sharedTmp, `other-${randomBytes(3).toString('hex')}`);
    expect((await asOther(['mv', planted, stash])).code).toBe(0);
    expect((await asOther(['ln', '-s', stash, planted])).code).toBe(0);
    const linked = await health(owner);
    expect(linked.status).toBe(503);
    expect((linked.body['error'] as { message: string }).message).toMatch(
      /is not a plain directory/,
    );

    await counter.stop();
    expect(counter.output()).toMatch(/connections 0\b/);
    await owner.proc.stop();
    expect((await asOther(['rm', '-rf', planted, stash])).code).toBe(0);
  }, 180_000);

  it('gives each user a route to their own agent, started on demand, in a directory nobody can plant', async () => {
    const owner = await serverAs(OWNER);
    const other = await serverAs(OTHER_USER);
    for (const [uid, server] of [
      [ownerUid, owner],
      [otherUid, other],
    ] as const) {
      // Made by the server at start (0700, the user's): nothing left to plant later.
      const dir = join(sharedTmp, `hpc-jupyter-${String(uid)}`);
      const info = lstatSync(dir);
      expect(info.isDirectory()).toBe(true);
      expect(info.uid).toBe(uid);
      expect(info.mode & 0o777).toBe(0o700);
      const answered = await health(server);
      expect(answered.status, JSON.stringify(answered.body)).toBe(200);
      const pid = Number(answered.body['pid']);
      const status = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
      expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(uid));
      // The agent is the built wheel's bundle, started by the venv's `hpc-jupyter`.
      expect(cmdlineOf(pid).join(' ')).toMatch(
        new RegExp(`^\\S*node \\S*/venv/lib/python3[.0-9]*/site-packages/hpc_jupyter_app/cli/`),
      );
      expect(lstatSync(join(dir, 'agent.sock')).uid).toBe(uid);
    }
    const ownerDir = join(sharedTmp, `hpc-jupyter-${String(ownerUid)}`);
    const plant = await asOther([
      'python3',
      '-c',
      `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(join(ownerDir, 'x.sock'))})`,
    ]);
    expect(plant.code).not.toBe(0);
    expect(plant.stderr).toMatch(/Permission denied/);
  }, 180_000);
});

/** `NAME=VALUE` arguments of `env -i` for an environment. */
function envArgs(env: Record<string, string>): string[] {
  return Object.entries(env).map(([name, value]) => `${name}=${value}`);
}
