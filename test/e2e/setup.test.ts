/**
 * `hpc-jupyter setup` on the real 4-node Slurm cluster, as a new user of a site whose Python has
 * nothing of ours: a copy of the test cluster's config whose testlab `python` is a bare venv
 * (no pip, no packages) in the test user's home, which the nodes share. A kernel job fails with
 * a message that names `hpc-jupyter setup`; `setup --create-venv PATH --wheelhouse W` makes an
 * environment there offline (pip --no-index from wheels uploaded over the SSH connection; W is
 * prepared here with `pip wheel` from a cache under /var/tmp, so reruns download nothing) and
 * sets testlab's python to it in that config; then "Slurm 4-node Spark" runs the seed's pi on
 * node1..node4 with that Python, and setup run again changes nothing.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KernelManager, KernelSpecManager, SessionManager } from '@jupyterlab/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import type { SetupReport } from '../../packages/core/src/setup/report.js';
import type { SshTransport } from '../../packages/core/src/transport/ssh.js';
import { execute } from './jupyter-client.js';
import { serveKernelProfile, VENV_BIN } from './jupyter-server.js';
import {
  cli,
  privateAgentEnv,
  sshTransportFor,
  stopPrivateAgent,
  testCluster,
  type TestCluster,
} from './support.js';

const execFileP = promisify(execFile);

/** Wheels built once and kept: pyspark is an sdist of ~450 MB that takes a minute to build. */
const WHEEL_CACHE = '/var/tmp/hpcj-e2e-wheels';
const WHEELHOUSE_REQUIREMENTS = ['ipykernel>=6.29,<8', 'pyspark>=4,<5', 'cryptography>=42'];

/** The wheelhouse: offline from the cache when it has everything, else filled from PyPI. */
async function prepareWheelhouse(): Promise<string> {
  mkdirSync(WHEEL_CACHE, { recursive: true });
  // The nodes' Python (Debian's 3.11, which the bare venv is made from) picks the wheels' tags.
  const pip = [join(VENV_BIN, 'python'), '-m', 'pip', 'wheel', '--disable-pip-version-check'];
  const args = [
    '--wheel-dir',
    WHEEL_CACHE,
    '--find-links',
    WHEEL_CACHE,
    ...WHEELHOUSE_REQUIREMENTS,
  ];
  const [cmd = '', ...rest] = pip;
  try {
    await execFileP(cmd, [...rest, '--no-index', ...args], { timeout: 300_000 });
  } catch {
    await execFileP(cmd, [...rest, '--use-pep517', ...args], {
      timeout: 1_200_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  }
  return WHEEL_CACHE;
}

let cluster: TestCluster;
let transport: SshTransport;
let root: string;
let remoteDir: string;
let configFile: string;
let env: Record<string, string>;
let wheelhouse: string;
let venv: string;
/** What afterAll undoes, newest first: each step is added once it happened. */
const undo: (() => Promise<unknown>)[] = [];

async function remote(argv: string[]): Promise<string> {
  const result = await transport.run(argv, { timeout: 120_000 });
  if (result.code !== 0) throw new Error(`${argv.join(' ')}: ${result.stderr}`);
  return result.stdout;
}

beforeAll(async () => {
  cluster = await testCluster();
  transport = sshTransportFor(cluster.testlab);
  undo.push(() => transport.close());
  root = mkdtempSync(join(tmpdir(), 'hpcj-setup-'));
  undo.push(() => {
    rmSync(root, { recursive: true, force: true });
    return Promise.resolve();
  });
  // testCluster() (in serveKernelProfile) reads the cluster's env file beside the config.
  writeFileSync(join(root, 'env'), readFileSync(join(cluster.dir, 'env')));
  const home = (await remote(['printenv', 'HOME'])).trim();
  remoteDir = `${home}/e2e-setup-${randomBytes(4).toString('hex')}`;
  venv = `${remoteDir}/venv`;
  // Bare: made with the system's Python, without even pip.
  await remote(['mkdir', '-m', '700', remoteDir]);
  undo.push(() => remote(['rm', '-rf', '--', remoteDir]));
  await remote(['/usr/bin/python3', '-m', 'venv', '--without-pip', `${remoteDir}/bare`]);
  const doc = parseDocument(readFileSync(cluster.configFile, 'utf8'));
  doc.setIn(['clusters', 'testlab', 'python'], `${remoteDir}/bare/bin/python`);
  configFile = join(root, 'clusters.yaml');
  writeFileSync(configFile, `# the test cluster, with a bare job Python\n${doc.toString()}`, {
    mode: 0o600,
  });
  env = privateAgentEnv(configFile);
  undo.push(() => stopPrivateAgent(env));
  wheelhouse = await prepareWheelhouse();
}, 1_500_000);

afterAll(async () => {
  for (const step of undo.reverse()) await step().catch(() => undefined);
});

describe('hpc-jupyter setup on a cluster whose python is a bare venv', () => {
  it('reports what is missing, per template', async () => {
    const result = await cli(['setup', '--cluster', 'testlab', '--json'], env);
    expect(result.code, result.stderr).toBe(1);
    const report = JSON.parse(result.stdout) as SetupReport;
    expect(report.python).toBe(`${remoteDir}/bare/bin/python`);
    const byId = new Map(report.requirements.map((r) => [r.id, r]));
    expect(byId.get('python')).toMatchObject({ ok: true, found: '3.11.2' });
    expect(byId.get('hpc_jupyter')).toMatchObject({ ok: false, found: 'missing' });
    expect(byId.get('java')?.ok).toBe(true);
    expect(report.templates.find((t) => t.template === 'spark-kernel')).toMatchObject({
      usable: false,
      missing: ['hpc_jupyter', 'pyspark', 'ipykernel', 'cryptography'],
    });
  });

  it('a kernel job fails with a message that names hpc-jupyter setup', async () => {
    const result = await cli(
      ['start', 'kernel', '--cluster', 'testlab', '--hours', '0.25', '--nodes', '1'],
      env,
    );
    expect(result.code, result.stderr).toBe(4);
    expect(result.stderr).toContain("does not have hpc_jupyter, hpc-jupyter's job package");
    expect(result.stderr).toContain('hpc-jupyter setup --cluster');
    expect(result.stderr).toContain('--create-venv');
  }, 300_000);

  it('--create-venv with a wheelhouse makes an environment offline and sets python', async () => {
    const t0 = Date.now();
    const result = await cli(
      ['setup', '--cluster', 'testlab', '--create-venv', venv, '--wheelhouse', wheelhouse],
      env,
      900_000,
    );
    const seconds = (Date.now() - t0) / 1000;
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(`Built ${venv}`);
    expect(result.stdout).toContain(
      `Set python in ${configFile}: ${remoteDir}/bare/bin/python -> ${venv}/bin/python.`,
    );
    expect(result.stdout).toMatch(/^kernel +yes$/m);
    expect(result.stdout).toMatch(/^spark-kernel +yes$/m);
    // The config: python changed, the comment kept, still 0600.
    const text = readFileSync(configFile, 'utf8');
    expect(text.startsWith('# the test cluster, with a bare job Python\n')).toBe(true);
    expect(parseDocument(text).getIn(['clusters', 'testlab', 'python'])).toBe(`${venv}/bin/python`);
    expect(statSync(configFile).mode & 0o777).toBe(0o600);
    // Nothing left beside it: no temporary environment, no uploads.
    const siblings = (await remote(['ls', '-A', remoteDir])).trim().split('\n').sort();
    expect(siblings).toEqual(['bare', 'venv']);
    console.log(`[setup] --create-venv with a ${wheelhouse} wheelhouse: ${seconds.toFixed(1)} s`);
  }, 900_000);

  it('"Slurm 4-node Spark" then runs the seed\'s pi on node1..node4 with that python', async () => {
    // serveKernelProfile copies the config HPC_JUPYTER_CONFIG names: ours, now set up.
    const saved = process.env.HPC_JUPYTER_CONFIG;
    process.env.HPC_JUPYTER_CONFIG = configFile;
    const served = await serveKernelProfile('e2e-setup-spark', [
      '--cluster',
      'testlab',
      '--template',
      'spark',
      '--nodes',
      '4',
      '--hours',
      '0.5',
      '--name',
      'Slurm 4-node Spark',
    ]).finally(() => {
      process.env.HPC_JUPYTER_CONFIG = saved;
    });
    const serverSettings = served.settings;
    const kernelManager = new KernelManager({ serverSettings });
    const sessions = new SessionManager({ serverSettings, kernelManager });
    try {
      const specs = new KernelSpecManager({ serverSettings });
      await specs.ready;
      expect(specs.specs?.kernelspecs['hpcj-e2e-setup-spark']?.display_name).toBe(
        'Slurm 4-node Spark',
      );
      await sessions.ready;
      const session = await sessions.startNew({
        path: 'pi.ipynb',
        type: 'notebook',
        name: 'pi.ipynb',
        kernel: { name: 'hpcj-e2e-setup-spark' },
      });
      const kernel = session.kernel;
      if (kernel === null) throw new Error('the session has no kernel');
      const first = await execute(kernel, 'sc.defaultParallelism');
      expect(first.status, first.stderr).toBe('ok');
      expect(first.result).toBe('8');
      const pi = await execute(
        kernel,
        `
import json, random, socket, sys

def inside(p):
    x, y = random.random(), random.random()
    return x*x + y*y < 1

NUM_SAMPLES = 2000000
count = sc.parallelize(range(0, NUM_SAMPLES), sc.defaultParallelism).filter(inside).count()
hosts = sorted(set(sc.parallelize(range(64), 64).map(lambda _: socket.gethostname()).collect()))
print(json.dumps({"pi": 4.0 * count / NUM_SAMPLES, "hosts": hosts, "python": sys.executable}))
`,
      );
      expect(pi.status, pi.stderr).toBe('ok');
      const result = JSON.parse(pi.stdout.trim().split('\n').pop() ?? '') as {
        pi: number;
        hosts: string[];
        python: string;
      };
      expect(Math.abs(result.pi - Math.PI)).toBeLessThan(0.01);
      expect(result.hosts).toEqual(['node1', 'node2', 'node3', 'node4']);
      expect(result.python).toBe(`${venv}/bin/python`);
      await session.shutdown();
    } finally {
      sessions.dispose();
      kernelManager.dispose();
      await served.close();
    }
  }, 900_000);

  it('a failed rebuild leaves the environment and the config as they were', async () => {
    const before = readFileSync(configFile, 'utf8');
    const stamp = ['stat', '-c', '%Y %i', `${venv}/.hpc-jupyter-setup.json`];
    const marker = (await remote(stamp)).trim();
    // A wheelhouse that asks for a project the environment lacks, in a wheel pip cannot read.
    const broken = join(root, 'broken-wheelhouse');
    mkdirSync(broken);
    writeFileSync(join(broken, 'zzz_broken-1.0-py3-none-any.whl'), 'not a zip file');
    const result = await cli(
      ['setup', '--cluster', 'testlab', '--create-venv', venv, '--wheelhouse', broken],
      env,
      300_000,
    );
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(1);
    expect(result.stdout).toContain('missing zzz-broken');
    expect(result.stderr).toContain('Installing into the new environment failed');
    expect(readFileSync(configFile, 'utf8')).toBe(before);
    expect((await remote(stamp)).trim()).toBe(marker);
    expect((await remote(['ls', '-A', remoteDir])).trim().split('\n').sort()).toEqual([
      'bare',
      'venv',
    ]);
  }, 300_000);

  it('running setup again changes nothing and says so', async () => {
    const before = readFileSync(configFile, 'utf8');
    const marker = (
      await remote(['stat', '-c', '%Y %i', `${venv}/.hpc-jupyter-setup.json`])
    ).trim();
    const result = await cli(
      ['setup', '--cluster', 'testlab', '--create-venv', venv, '--wheelhouse', wheelhouse],
      env,
      300_000,
    );
    expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    expect(result.stdout).toContain(`${venv} already had everything: unchanged.`);
    expect(result.stdout).toContain(
      `${configFile} already sets python to ${venv}/bin/python: unchanged.`,
    );
    expect(result.stdout).toMatch(/Nothing changed\.\n$/);
    expect(readFileSync(configFile, 'utf8')).toBe(before);
    expect((await remote(['stat', '-c', '%Y %i', `${venv}/.hpc-jupyter-setup.json`])).trim()).toBe(
      marker,
    );
  }, 300_000);
});
