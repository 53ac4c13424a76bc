// The shell runtime's functions, run for real in bash: fan-out over nodes and tasks (locally and
// the srun command line on Slurm), bounded port waits, atomic private files, and cleanup on exit
// and on SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VENV_PYTHON, alive } from './job-harness.js';

const RUNTIME = new URL('./runtime.sh', import.meta.url).pathname;
const PYTHON = existsSync(VENV_PYTHON) ? VENV_PYTHON : 'python3';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'hpcj-runtime-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Runs `script` in bash after loading the runtime; env replaces the scheduler variables. */
function run(
  script: string,
  env: Record<string, string> = {},
): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync('bash', ['-c', `. "$HPCJ_TEST_RUNTIME"\n${script}`], {
    cwd: tmp,
    encoding: 'utf8',
    timeout: 15_000,
    env: {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: tmp,
      HPCJ_TEST_RUNTIME: RUNTIME,
      HPCJ_PYTHON: PYTHON,
      ...env,
    },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const lines = (text: string): string[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .sort();

describe('hpcj_each_node and hpcj_each_task', () => {
  const show = 'bash -c \'echo "$HPCJ_RANK $HPCJ_NODE_RANK $HPCJ_NODE_NAME"\'';

  it('fans out locally once per node of HPC_JUPYTER_NODES', () => {
    const r = run(`hpcj_each_node ${show}`, {
      HPC_JUPYTER_SCHEDULER: 'local',
      HPC_JUPYTER_NODES: 'n1,n2 n3',
    });
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual(['0 0 n1', '1 1 n2', '2 2 n3']);
  });

  it('fans out locally once per task, and per requested node without a node list', () => {
    const r = run(`hpcj_each_task ${show}`, {
      HPC_JUPYTER_SCHEDULER: 'local',
      HPCJ_NODE_COUNT: '2',
      HPCJ_TASKS_PER_NODE: '2',
    });
    expect(r.code).toBe(0);
    const host = os.hostname();
    expect(lines(r.stdout)).toEqual([`0 0 ${host}`, `1 0 ${host}`, `2 1 ${host}`, `3 1 ${host}`]);
  });

  it('runs every copy even when one fails, and then fails', () => {
    const r = run(
      `hpcj_each_node bash -c '[ "$HPCJ_RANK" != 1 ] || exit 3; echo "ok $HPCJ_RANK"'; echo "status $?"`,
      { HPC_JUPYTER_SCHEDULER: 'local', HPC_JUPYTER_NODES: 'a b c' },
    );
    expect(lines(r.stdout)).toEqual(['ok 0', 'ok 2', 'status 3']);
  });

  it('uses srun on Slurm with one task per node and the smallest node CPU count', () => {
    const bin = path.join(tmp, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    const srun = path.join(bin, 'srun');
    writeFileSync(srun, '#!/bin/bash\nprintf "%s\\n" "$@"\n');
    chmodSync(srun, 0o755);
    const r = run('hpcj_each_node my-worker --flag "two words"', {
      PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      HPC_JUPYTER_SCHEDULER: 'slurm',
      SLURM_JOB_NUM_NODES: '3',
      SLURM_JOB_CPUS_PER_NODE: '72(x2),36',
    });
    expect(r.code).toBe(0);
    const argv = r.stdout.split('\n').slice(0, -1);
    expect(argv.slice(0, 6)).toEqual([
      '--nodes=3',
      '--ntasks=3',
      '--ntasks-per-node=1',
      '--kill-on-bad-exit=0',
      '--overlap',
      '--cpus-per-task=36',
    ]);
    expect(argv.slice(6, 8)).toEqual(['bash', '-c']);
    expect(argv.slice(-4)).toEqual(['hpcj', 'my-worker', '--flag', 'two words']);
  });

  it('says so on a scheduler it does not support yet', () => {
    const r = run('hpcj_each_node true', { HPC_JUPYTER_SCHEDULER: 'pbs' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/does not support the scheduler 'pbs' yet/);
  });
});

describe('ports and addresses', () => {
  let server: Server;
  let port: number;
  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('hpcj_free_port prints a port that can be bound', () => {
    const r = run('p=$(hpcj_free_port) && hpcj_port_free "$p" && echo "$p"');
    expect(r.code).toBe(0);
    expect(Number(r.stdout.trim())).toBeGreaterThan(1023);
    expect(run(`hpcj_port_free ${port}`).code).toBe(1);
  });

  it('hpcj_wait_port returns once the port listens', () => {
    const started = Date.now();
    expect(run(`hpcj_wait_port 127.0.0.1 ${port} 10`).code).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('hpcj_wait_port gives up after its timeout with a message', () => {
    const free = run('hpcj_free_port').stdout.trim();
    const started = Date.now();
    const r = run(`hpcj_wait_port 127.0.0.1 ${free} 1`);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`nothing listened on 127.0.0.1:${free} within 1 s`);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(run('hpcj_wait_port 127.0.0.1 abc 1').stderr).toMatch(/port must be a number/);
  });

  it('hpcj_wait_port stops waiting when the server process has ended', () => {
    const free = run('hpcj_free_port').stdout.trim();
    const started = Date.now();
    const r = run(`sleep 0.2 & hpcj_wait_port 127.0.0.1 ${free} 30 $!`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ended before 127\.0\.0\.1:\d+ was listening/);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('hpcj_node_address: loopback for local, the override, else an address', () => {
    expect(run('hpcj_node_address', { HPC_JUPYTER_SCHEDULER: 'local' }).stdout).toBe('127.0.0.1\n');
    expect(run('hpcj_node_address', { HPCJ_NODE_ADDRESS: '10.1.2.3' }).stdout).toBe('10.1.2.3\n');
    expect(run('hpcj_node_address', { HPC_JUPYTER_SCHEDULER: 'slurm' }).stdout.trim()).not.toBe('');
  });
});

// A5 at the runtime level: a port that another Unix user took (the race between choosing a
// free port and the server binding it, or a server that moved to the next port) is never waited
// for or published as the job's. The squatter is a real second user (nobody), so that part needs
// root.
const LISTEN_PY = `
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
print("listening", flush=True)
time.sleep(60)
`;

/** A script that starts SERVER in the background ($server), runs BODY, stops the server's tree
 * and exits with BODY's status. */
function withServer(server: string, body: string): string {
  return `${server} >/dev/null 2>&1 &
server=$!
${body}
status=$?
kill $(pgrep -P "$server") "$server" 2>/dev/null
exit $status`;
}

describe('who holds a published port', () => {
  const asRoot = process.getuid?.() === 0;

  it('hpcj_wait_port with PID accepts the server that listens, refuses a port someone else holds', () => {
    const free = run('hpcj_free_port').stdout.trim();
    const script = path.join(tmp, 'listen.py');
    writeFileSync(script, LISTEN_PY);
    const listen = `${PYTHON} ${script} ${free}`;
    const ok = run(withServer(listen, `hpcj_wait_port 127.0.0.1 ${free} 10 "$server"`));
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    // The port listens, but not in the tree of the process we were told is the server.
    const other = run(
      withServer(
        listen,
        `sleep 30 >/dev/null & hpcj_wait_port 127.0.0.1 ${free} 10 $!; s=$?
kill $! 2>/dev/null; (exit $s)`,
      ),
    );
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(
      `port ${free} on 127.0.0.1 is held by a process outside the tree of the server`,
    );
    // A server that binds below a launcher (as spark-class runs java) is in the tree.
    const nested = run(
      withServer(`bash -c "${listen}; true"`, `hpcj_wait_port 127.0.0.1 ${free} 10 "$server"`),
    );
    expect(nested.stderr).toBe('');
    expect(nested.code).toBe(0);
  });

  describe.skipIf(!asRoot)('a port squatted by another user (needs root to run as nobody)', () => {
    let squatter: ReturnType<typeof spawn> | undefined;
    let port = 0;
    beforeAll(async () => {
      port = Number(run('hpcj_free_port').stdout.trim());
      // setpriv execs the listener itself (runuser would stay its parent), so killing it ends it.
      squatter = spawn(
        'setpriv',
        [
          '--reuid=nobody',
          '--regid=nogroup',
          '--clear-groups',
          PYTHON,
          '-c',
          LISTEN_PY,
          String(port),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      await new Promise<void>((resolve, reject) => {
        squatter?.stdout?.once('data', () => {
          resolve();
        });
        squatter?.once('exit', (code) => {
          reject(new Error(`the squatter exited (${String(code)})`));
        });
      });
    });
    afterAll(() => {
      squatter?.kill('SIGKILL');
    });

    it('hpcj_wait_port refuses it, even for a server that moved to the next port', () => {
      const uid = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim();
      const plain = run(`hpcj_wait_port 127.0.0.1 ${port} 5`);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toContain(
        `port ${port} on 127.0.0.1 is held by another user (uid ${uid}), not by this job`,
      );
      // Like Spark's UI: its port taken, the server binds the next one and lives on.
      const moving = `
import socket, sys, time
s = socket.socket()
p = int(sys.argv[1])
try:
    s.bind(("127.0.0.1", p))
except OSError:
    s.bind(("127.0.0.1", 0))
s.listen()
time.sleep(30)
`;
      const moved = run(
        `${PYTHON} -c '${moving}' ${port} & hpcj_wait_port 127.0.0.1 ${port} 5 $!; s=$?; kill $!; exit $s`,
      );
      expect(moved.code).toBe(1);
      expect(moved.stderr).toMatch(/held by another user/);
    });

    it('hpcj_write_connection and hpcj_check_port refuse to publish it', () => {
      const dir = mkdtempSync(path.join(tmp, 'squat-'));
      const env = { HPCJ_SESSION_DIR: dir };
      const endpoint = `endpoints:="[$(hpcj_json name=dashboard host=127.0.0.1 port:=${port})]"`;
      const r = run(
        `hpcj_write_connection "$(hpcj_json kind=dask host=127.0.0.1 ${endpoint})"`,
        env,
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/held by another user .*refusing to publish it/);
      expect(existsSync(path.join(dir, 'connection.json'))).toBe(false);
      // The same through the kernel's shape: ip with *_port.
      const k = run(
        `hpcj_write_connection "$(hpcj_json kind=kernel ip=127.0.0.1 iopub_port:=${port})"`,
        env,
      );
      expect(k.code).toBe(1);
      expect(existsSync(path.join(dir, 'connection.json'))).toBe(false);
      expect(run(`hpcj_check_port 127.0.0.1 ${port}`).code).toBe(1);
      // A port of this user's, and one nothing listens on yet, are published.
      const free = run('hpcj_free_port').stdout.trim();
      const good = run(
        `hpcj_write_connection "$(hpcj_json kind=dask host=127.0.0.1 endpoints:="[$(hpcj_json name=ui host=127.0.0.1 port:=${free})]")"`,
        env,
      );
      expect(good.stderr).not.toMatch(/error|refusing/);
      expect(good.code).toBe(0);
      expect(existsSync(path.join(dir, 'connection.json'))).toBe(true);
    });
  });
});

describe('hpcj_node_address on a node with several addresses', () => {
  // A `hostname` that reports the given addresses for -I (and a name otherwise) stands in for a
  // node's interfaces; the route lookups are this machine's own.
  function withAddresses(addresses: string, env: Record<string, string> = {}): string {
    const bin = mkdtempSync(path.join(tmp, 'hostname-'));
    const fake = path.join(bin, 'hostname');
    writeFileSync(fake, `#!/bin/sh\n[ "$1" = -I ] && echo "${addresses}" || echo fakenode\n`);
    chmodSync(fake, 0o755);
    const r = run('hpcj_node_address', {
      PATH: `${bin}:${process.env['PATH'] ?? '/usr/bin:/bin'}`,
      HPC_JUPYTER_SCHEDULER: 'slurm',
      ...env,
    });
    expect(r.code).toBe(0);
    return r.stdout.trim();
  }

  it('never picks a public address when a private one exists, nor loopback or link-local', () => {
    expect(withAddresses('9.9.9.9 fe80::1 127.0.0.1 10.9.9.9 172.20.0.5')).toBe('10.9.9.9');
    expect(withAddresses('2001:4860::8 fd12::5')).toBe('fd12::5');
    expect(withAddresses('100.64.3.4 9.9.9.9')).toBe('100.64.3.4');
    // Only a public one: that is the node's address (HPCJ_NODE_ADDRESS overrides it).
    expect(withAddresses('127.0.0.1 9.9.9.9')).toBe('9.9.9.9');
    expect(withAddresses('9.9.9.9', { HPCJ_NODE_ADDRESS: '10.0.0.7' })).toBe('10.0.0.7');
  });

  it("the job package's copy (hpc_jupyter.netaddr, for kernels) chooses the same", () => {
    const cases = ['9.9.9.9 fe80::1 127.0.0.1 10.9.9.9 172.20.0.5', '2001:4860::8 fd12::5'];
    const shell = cases.map((c) => withAddresses(c));
    const code = `import json, sys
from hpc_jupyter.netaddr import choose
print(json.dumps([choose(c.split(), []) for c in json.loads(sys.argv[1])]))`;
    const python = spawnSync(VENV_PYTHON, ['-c', code, JSON.stringify(cases)], {
      encoding: 'utf8',
    });
    expect(python.stderr).toBe('');
    expect(JSON.parse(python.stdout)).toEqual(shell);
    expect(shell).toEqual(['10.9.9.9', 'fd12::5']);
  });

  it('falls back to the host name when the node reports no usable address', () => {
    expect(withAddresses('')).toBe('fakenode');
    expect(withAddresses('127.0.0.1 fe80::1')).toBe('fakenode');
  });

  // The interface that reaches the submit host wins over an earlier private address. The submit
  // host here is this machine's own private address, whose route source is that address.
  const own = spawnSync('hostname', ['-I'], { encoding: 'utf8' })
    .stdout.split(/\s+/)
    .find((a) => /^(10\.|192\.168\.|172\.(1[6-9]|2\d|3[01])\.|192\.0\.2\.)/.test(a));
  it.skipIf(own === undefined)(
    'prefers the address that reaches the submit host (needs a private IPv4 address here)',
    () => {
      const address = own ?? '';
      expect(withAddresses(`10.250.250.250 ${address}`, { SLURM_SUBMIT_HOST: address })).toBe(
        address,
      );
      expect(withAddresses(`10.250.250.250 ${address}`)).toBe('10.250.250.250');
    },
  );
});

describe('files', () => {
  it('hpcj_write_file_atomic writes stdin with the mode, leaving no temporary file', () => {
    const dir = mkdtempSync(path.join(tmp, 'atomic-'));
    const file = path.join(dir, 'out.txt');
    writeFileSync(file, 'old');
    const r = run(`printf 'new\\ncontent' | hpcj_write_file_atomic "${file}" 640`);
    expect(r.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('new\ncontent');
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(readdirSync(dir)).toEqual(['out.txt']);
    const bad = run(`echo x | hpcj_write_file_atomic "${path.join(dir, 'missing', 'f')}" 600`);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/cannot create a temporary file/);
  });

  it('hpcj_write_connection writes a 0600 JSON object, and refuses anything else', () => {
    const dir = mkdtempSync(path.join(tmp, 'conn-'));
    chmodSync(dir, 0o755);
    const env = { HPCJ_SESSION_DIR: dir };
    expect(run('hpcj_write_connection "not json"', env).code).toBe(2);
    expect(run('hpcj_write_connection "[1]"', env).code).toBe(2);
    expect(existsSync(path.join(dir, 'connection.json'))).toBe(false);
    const r = run(
      `hpcj_write_connection "$(hpcj_json kind=x "host=a b" port:=8888 'q="'"'")"`,
      env,
    );
    expect(r.code).toBe(0);
    const file = path.join(dir, 'connection.json');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
      kind: 'x',
      host: 'a b',
      port: 8888,
      q: `"'`,
    });
  });

  it('hpcj_resolve_dir: home when empty, relative to home, fails when missing', () => {
    spawnSync('mkdir', ['-p', path.join(tmp, 'sub dir')]);
    expect(run('hpcj_resolve_dir ""').stdout).toBe(`${tmp}\n`);
    expect(run('hpcj_resolve_dir "sub dir"').stdout).toBe(`${tmp}/sub dir\n`);
    expect(run("hpcj_resolve_dir '~/sub dir'").stdout).toBe(`${tmp}/sub dir\n`);
    const missing = run('hpcj_resolve_dir /nonexistent/x');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist/);
  });
});

describe('cleanup', () => {
  it('runs registered cleanups once, newest first, on a normal exit', () => {
    const r = run(`hpcj_on_exit echo "first 'one'"; hpcj_on_exit echo second; echo body`);
    expect(r.stdout).toBe("body\nsecond\nfirst 'one'\n");
  });

  it('on SIGTERM runs the cleanups, stops every child and exits 143', async () => {
    const marker = path.join(tmp, 'cleaned');
    const pidFile = path.join(tmp, 'pids');
    const script = [
      `. "${RUNTIME}"`,
      `hpcj_on_exit sh -c 'echo cleaned >> "$1"' sh "${marker}"`,
      'sleep 300 &',
      // A grandchild in a subshell that ignores nothing: found through the process tree.
      '( sleep 301 & wait ) &',
      'sleep 0.3',
      `pgrep -P $$ > "${pidFile}"; for p in $(pgrep -P $$); do pgrep -P "$p"; done >> "${pidFile}"`,
      'echo ready',
      'wait',
    ].join('\n');
    const child = spawn('bash', ['-c', script], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HPCJ_STOP_GRACE: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    try {
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d: Buffer) => {
          if (d.toString().includes('ready')) resolve();
        });
      });
      const pids = readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number);
      expect(pids.length).toBeGreaterThanOrEqual(3);
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      if (child.pid !== undefined) process.kill(child.pid, 'SIGTERM');
      expect(await exited).toBe(143);
      expect(readFileSync(marker, 'utf8')).toBe('cleaned\n');
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          // Already gone.
        }
      }
    }
  });
});
