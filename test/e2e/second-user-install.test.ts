/**
 * Second-user attacks on what a user's own machine and workdir hold (issue 14, A2, A7, A8), run
 * as `hpcjother` against the real thing:
 *
 * - A2: one `jupyterlab install --sys-prefix` in a venv both users run Jupyter from. hpcjother
 *   plants the owner's agent directory (and a listening socket in it) in the shared temp
 *   directory, then swaps it for a symlink: the owner's `<base_url>hpc-jupyter/` route answers a
 *   refusal that says why, and the planted listener counts 0 connections. Without a plant, each
 *   user's route starts and reaches that user's own agent, in a directory nobody else can enter.
 * - A7: workdirs on a shared scratch directory of the test cluster: one hpcjother made (0777) and
 *   one of ours left 0777 are refused by `start` and by `doctor`, with what to run; one of ours
 *   at 0755 is closed to 0700, the agent's log says so, and a JupyterLab session runs there.
 * - A8: while `hpc-jupyter open ID` runs with a fake browser (an `xdg-open` first on PATH that
 *   records its argv and sleeps), hpcjother reads every /proc/PID/cmdline and environ it can:
 *   the token is in none of them, and what the browser got still leads into the session.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../packages/core/src/kernel/kernel-client.testutil.js';
import { OTHER_USER } from './second-user.js';
import {
  CLI,
  cli,
  privateAgentEnv,
  REPO_ROOT,
  stopPrivateAgent,
  testCluster,
  type TestCluster,
} from './support.js';

const execFileP = promisify(execFile);
const OWNER = 'hpcjtest';
const JOBS_VENV = process.env['HPC_JUPYTER_VENV'] ?? '/opt/hpc-jupyter/venv';

interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs argv as `user` (runuser) or as root, with `input` on stdin. Like second-user.ts's asOther,
 * but a child that exits before reading its stdin is not an uncaught EPIPE.
 */
function runAs(
  user: string | undefined,
  argv: readonly string[],
  input = '',
  timeoutMs = 60_000,
): Promise<Ran> {
  const full = user === undefined ? argv : ['runuser', '-u', user, '--', ...argv];
  return new Promise((resolve, reject) => {
    const [program = '', ...args] = full;
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

const asOther = (argv: readonly string[], input = '', timeoutMs = 60_000): Promise<Ran> =>
  runAs(OTHER_USER, argv, input, timeoutMs);
const asRoot = (argv: readonly string[]): Promise<Ran> => runAs(undefined, argv);

async function uidOf(user: string): Promise<number> {
  const r = await asRoot(['id', '-u', user]);
  return Number(r.stdout.trim());
}

interface UserProcess {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** A long-running process as `user`; secrets go in `env` (never argv), which runuser keeps. */
function spawnAs(user: string, argv: readonly string[], env: NodeJS.ProcessEnv): UserProcess {
  const child = spawn('runuser', ['-u', user, '--', ...argv], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-40_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  return {
    child,
    output: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 30_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('A2: a shared --sys-prefix install routes each user to their own agent only', () => {
  let root: string;
  let venvPython: string;
  let sharedTmp: string;
  let ownerUid: number;
  let otherUid: number;
  const servers: UserProcess[] = [];

  beforeAll(async () => {
    ownerUid = await uidOf(OWNER);
    otherUid = await uidOf(OTHER_USER);
    root = mkdtempSync('/tmp/hpcj-a2-');
    chmodSync(root, 0o755);
    // A fresh venv, as a site would make one for everybody: it sees the jobs' venv's packages
    // (Jupyter, jupyter-server-proxy) through a .pth file, has jupyter-server-proxy enabled in
    // its own prefix, and gets hpc-jupyter's Python package installed by pip.
    const venv = join(root, 'venv');
    await run(['/usr/bin/python3', '-m', 'venv', '--without-pip', venv]);
    venvPython = join(venv, 'bin', 'python');
    const site = (
      await run([venvPython, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'])
    ).trim();
    const jobsSite = (
      await run([
        join(JOBS_VENV, 'bin', 'python'),
        '-c',
        'import sysconfig; print(sysconfig.get_paths()["purelib"])',
      ])
    ).trim();
    writeFileSync(join(site, 'hpcj-jobs-venv.pth'), `${jobsSite}\n`);
    cpSync(join(JOBS_VENV, 'etc', 'jupyter'), join(venv, 'etc', 'jupyter'), { recursive: true });
    const pkg = join(root, 'pkg');
    mkdirSync(pkg);
    cpSync(join(REPO_ROOT, 'templates/python/pyproject.toml'), join(pkg, 'pyproject.toml'));
    cpSync(join(REPO_ROOT, 'templates/python/hpc_jupyter'), join(pkg, 'hpc_jupyter'), {
      recursive: true,
    });
    await run([
      join(JOBS_VENV, 'bin', 'pip'),
      'install',
      '--quiet',
      '--disable-pip-version-check',
      '--no-deps',
      '--target',
      site,
      pkg,
    ]);
    const built = join(REPO_ROOT, 'packages/jupyterlab-ext/labextension/package.json');
    if (!existsSync(built)) {
      await run([
        process.execPath,
        join(REPO_ROOT, 'packages/jupyterlab-ext/scripts/build-labextension.mjs'),
      ]);
    }
    // The administrator (root here) installs once, for everybody.
    const installed = await cli([
      'jupyterlab',
      'install',
      '--sys-prefix',
      '--python',
      venvPython,
      '--json',
    ]);
    expect(installed.code, installed.stderr).toBe(0);
    expect(JSON.parse(installed.stdout)).toMatchObject({ routeRegistered: true });
    await run(['chmod', '-R', 'a+rX', root]);
    // The machine's shared temp directory, as /tmp is: world-writable and sticky.
    sharedTmp = join(root, 'tmp');
    mkdirSync(sharedTmp);
    chmodSync(sharedTmp, 0o1777);
  }, 300_000);

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
        process.execPath,
        CLI,
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
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      LANG: 'C.UTF-8',
      TMPDIR: sharedTmp,
      JUPYTER_TOKEN: token,
      HPC_JUPYTER_COMMAND: `${process.execPath} ${CLI}`,
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

/** The test cluster's own settings for a cluster entry with another workdir. */
function clusterYaml(cluster: TestCluster, name: string, workdir: string): string {
  const c = cluster.testlab;
  const ssh = c.ssh;
  if (ssh === undefined) throw new Error('testlab has no ssh settings');
  return [
    `  ${name}:`,
    '    scheduler: slurm',
    '    ssh:',
    `      host: ${ssh.host}`,
    `      port: ${String(ssh.port ?? 22)}`,
    `      user: ${ssh.user ?? OWNER}`,
    `      identityFile: ${String(ssh.identityFile)}`,
    `      knownHostsFile: ${String(ssh.knownHostsFile)}`,
    `    workdir: ${workdir}`,
    `    python: ${c.python ?? 'python3'}`,
    '    defaults:',
    '      partition: debug',
    '',
  ].join('\n');
}

describe('A7 and A8: workdirs others can touch, and `open` with a browser', () => {
  let cluster: TestCluster;
  let env: Record<string, string>;
  let scratch: string;
  let ownerUid: number;

  beforeAll(async () => {
    cluster = await testCluster();
    ownerUid = await uidOf(OWNER);
    // A shared scratch filesystem of the cluster (the nodes see this machine's files).
    scratch = mkdtempSync('/var/tmp/hpcj-a7-');
    chmodSync(scratch, 0o1777);
    const dir = mkdtempSync('/tmp/hpcj-a7-config-');
    const configFile = join(dir, 'clusters.yaml');
    writeFileSync(
      configFile,
      `clusters:\n${clusterYaml(cluster, 'a7-theirs', join(scratch, 'theirs'))}${clusterYaml(cluster, 'a7-open', join(scratch, 'open'))}${clusterYaml(cluster, 'a7-readable', join(scratch, 'readable'))}`,
    );
    env = privateAgentEnv(configFile);
    expect((await asOther(['mkdir', '-m', '0777', join(scratch, 'theirs')])).code).toBe(0);
    for (const [name, mode] of [
      ['open', 0o777],
      ['readable', 0o755],
    ] as const) {
      mkdirSync(join(scratch, name));
      chownSync(join(scratch, name), ownerUid, ownerUid);
      chmodSync(join(scratch, name), mode);
    }
  }, 60_000);

  afterAll(async () => {
    await stopPrivateAgent(env);
    await asRoot(['rm', '-rf', scratch]);
  }, 120_000);

  it("refuses hpcjother's workdir, in start and in doctor, and writes nothing there", async () => {
    const theirs = join(scratch, 'theirs');
    const started = await cli(
      ['start', 'jupyter', '--cluster', 'a7-theirs', '--hours', '0.2'],
      env,
    );
    expect(started.code).not.toBe(0);
    expect(started.stderr).toContain(`Refusing to use ${theirs} on ${OWNER}@`);
    expect(started.stderr).toMatch(/belongs to hpcjother \(uid \d+\), not to you/);
    expect(started.stderr).toContain(
      'Choose another work directory: set `workdir` for cluster a7-theirs',
    );
    expect(readdirSync(theirs)).toEqual([]);
    const doctor = await cli(['doctor', '--cluster', 'a7-theirs'], env);
    expect(doctor.code).not.toBe(0);
    expect(doctor.stdout).toMatch(
      /FAIL {2}work directory\n {6}Refusing to use .*belongs to hpcjother/,
    );
  }, 120_000);

  it('refuses our own workdir left 0777, saying to chmod it, and leaves it as it was', async () => {
    const open = join(scratch, 'open');
    const started = await cli(['start', 'jupyter', '--cluster', 'a7-open', '--hours', '0.2'], env);
    expect(started.code).not.toBe(0);
    expect(started.stderr).toContain(`its mode is 0777, so other users may write into it`);
    expect(started.stderr).toContain(`run \`chmod 700 ${open}\``);
    expect(statSync(open).mode & 0o777).toBe(0o777);
    expect(readdirSync(open)).toEqual([]);
    const doctor = await cli(['doctor', '--cluster', 'a7-open'], env);
    expect(doctor.code).not.toBe(0);
    expect(doctor.stdout).toContain(`chmod 700 ${open}`);
  }, 120_000);

  it('closes our 0755 workdir to 0700 and says so; the session runs there, and `open` shows no one the token (A8)', async () => {
    const readable = join(scratch, 'readable');
    // --no-wait, then waiting here: the shared test cluster may be busy with other tests' jobs.
    const started = await cli(
      ['start', 'jupyter', '--cluster', 'a7-readable', '--hours', '0.5', '--no-wait', '--json'],
      env,
    );
    expect(started.code, started.stderr).toBe(0);
    const id = (JSON.parse(started.stdout) as { session: { id: string } }).session.id;
    await until(
      `session ${id} ready`,
      async () => {
        await new Promise((r) => setTimeout(r, 2000));
        const status = await cli(['status', id, '--json'], env);
        const state = (JSON.parse(status.stdout) as { state: string }).state;
        if (['failed', 'cancelled', 'completed', 'timed-out'].includes(state)) {
          throw new Error(`session ${id} ended: ${status.stdout}`);
        }
        return state === 'ready';
      },
      900_000,
    );
    const access = await cli(['open', id, '--json'], env);
    expect(access.code, access.stderr).toBe(0);
    const out = JSON.parse(access.stdout) as { url: string; token: string };
    const { token } = out;
    expect(token.length).toBeGreaterThanOrEqual(16);
    expect(statSync(readable).mode & 0o777).toBe(0o700);
    expect(statSync(join(readable, 'sessions')).mode & 0o777).toBe(0o700);
    const log = readFileSync(join(env['XDG_STATE_HOME'] ?? '', 'hpc-jupyter', 'agent.log'), 'utf8');
    expect(log).toContain(`${readable} on ${OWNER}@`);
    expect(log).toContain('was readable by others (mode 0755); set it to 0700');
    const doctor = await cli(['doctor', '--cluster', 'a7-readable'], env);
    expect(doctor.stdout).toContain(
      `ok    work directory ${readable} is writable (owner ${OWNER}, mode 0700)`,
    );

    // A8: a fake browser that records what it was given and stays up for 3 s.
    const bin = mkdtempSync('/tmp/hpcj-a8-bin-');
    const record = join(bin, 'argv');
    writeFileSync(
      join(bin, 'xdg-open'),
      `#!/bin/sh\nprintf '%s\\n' "$@" > ${record}.tmp && mv ${record}.tmp ${record}\nsleep 3\n`,
      { mode: 0o755 },
    );
    chmodSync(bin, 0o755);
    // hpcjother reads every cmdline and environ it can, over and over, for 8 s; the token comes
    // on stdin (never argv). It also reports whether it saw the fake browser, so the scan is
    // known to have overlapped it.
    const scanner = asOther(
      [
        'python3',
        '-c',
        [
          'import os, sys, time',
          'token = sys.stdin.readline().strip().encode()',
          'hits, seen, reads, end = set(), False, 0, time.time() + 8',
          'while time.time() < end:',
          '    for pid in os.listdir("/proc"):',
          '        if not pid.isdigit(): continue',
          '        for part in ("cmdline", "environ"):',
          '            try:',
          '                data = open("/proc/%s/%s" % (pid, part), "rb").read()',
          '            except OSError:',
          '                continue',
          '            reads += 1',
          '            if token in data: hits.add("%s/%s" % (pid, part))',
          `            if part == "cmdline" and ${JSON.stringify(bin)}.encode() in data: seen = True`,
          'print("hits", len(hits), sorted(hits)); print("saw-browser", seen); print("reads", reads)',
        ].join('\n'),
      ],
      `${token}\n`,
      30_000,
    );
    await new Promise((r) => setTimeout(r, 1000));
    const opened = await cli(['open', id], {
      ...env,
      DISPLAY: ':99',
      PATH: `${bin}:${process.env['PATH'] ?? ''}`,
    });
    expect(opened.code, opened.stderr).toBe(0);
    const scan = await scanner;
    expect(scan.code, scan.stderr).toBe(0);
    expect(scan.stdout).toContain('hits 0 []');
    expect(scan.stdout).toContain('saw-browser True');
    expect(Number(/reads (\d+)/.exec(scan.stdout)?.[1])).toBeGreaterThan(100);

    // What the browser got: a file:// page, private, that leads into the session with the token.
    await until('the fake browser', () => existsSync(record), 10_000);
    const args = readFileSync(record, 'utf8').trim().split('\n');
    expect(args).toHaveLength(1);
    expect(args[0]).not.toContain(token);
    expect(args[0]).toMatch(/^file:\/\//);
    const page = fileURLToPath(args[0] ?? '');
    expect(statSync(page).mode & 0o777).toBe(0o600);
    expect(statSync(join(page, '..')).mode & 0o777).toBe(0o700);
    expect((await asOther(['cat', page])).code).not.toBe(0);
    const target = /http-equiv="refresh" content="0;url=([^"]+)"/.exec(
      readFileSync(page, 'utf8'),
    )?.[1];
    expect(target).toBe(
      `${out.url.replace(/lab\?token=.*$/, '')}lab?token=${encodeURIComponent(token)}`,
    );
    const res = await fetch((target ?? '').replace(/&amp;/g, '&'), { redirect: 'follow' });
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('jupyter-config-data');
  }, 1_200_000);
});

/** Runs argv as root (this test's own user) and returns its stdout; fails loudly. */
async function run(argv: readonly string[], timeoutMs = 240_000): Promise<string> {
  const [program = '', ...args] = argv;
  const { stdout } = await execFileP(program, args, { timeout: timeoutMs }).catch(
    (error: unknown) => {
      const e = error as { stderr?: string; message: string };
      throw new Error(`${argv.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
    },
  );
  return stdout;
}
