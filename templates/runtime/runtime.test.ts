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
