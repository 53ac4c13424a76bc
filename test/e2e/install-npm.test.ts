/**
 * The npm package of `npm run dist` (`npm pack` of @hpc-jupyter/cli), alone in an empty
 * directory, installed with `npm install -g --prefix` into a fresh prefix, offline (it has no
 * dependencies, and nothing native): `<prefix>/bin/hpc-jupyter` lists the test cluster's
 * clusters, the built-in `local` one on a default configuration, starts its agent from the
 * installed package, and runs a job on `local` with the package's own templates.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import {
  cleanEnv,
  cmdlineOf,
  copyArtifacts,
  ensureDist,
  sizeMiB,
  VERSION,
} from './install-support.js';
import { privateAgentEnv, REPO_ROOT, testCluster } from './support.js';

let root: string;
let prefix: string;
let command: string;
let base: Record<string, string>;
let agentEnv: Record<string, string>;
/** PATH without the repository's node_modules/.bin that vitest runs with. */
const SYSTEM_PATH = `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`;

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: readonly string[], env: Record<string, string>): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(file, args, { env, cwd: root, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr });
    });
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) =>
    statSync(join(dir, f)).isFile(),
  );
}

beforeAll(async () => {
  const cluster = await testCluster();
  await ensureDist();
  root = mkdtempSync('/tmp/hpcj-install-npm-');
  const artifacts = join(root, 'artifacts');
  mkdirSync(artifacts);
  const { npmPackage } = copyArtifacts(artifacts, ['npmPackage']);
  console.log(`npm package: ${sizeMiB(npmPackage)}`);
  const home = join(root, 'home');
  mkdirSync(home);
  base = cleanEnv(SYSTEM_PATH, home);
  prefix = join(root, 'prefix');
  const started = Date.now();
  const installed = await run(
    'npm',
    ['install', '-g', '--offline', '--no-audit', '--no-fund', '--prefix', prefix, npmPackage],
    base,
  );
  expect(installed.code, installed.stderr).toBe(0);
  console.log(`npm install -g: ${String(Date.now() - started)} ms`);
  command = join(prefix, 'bin', 'hpc-jupyter');
  agentEnv = { ...base, ...privateAgentEnv(cluster.configFile) };
}, 300_000);

afterAll(async () => {
  await run(command, ['agent', 'stop'], agentEnv);
  rmSync(root, { recursive: true, force: true });
});

describe('the npm package, installed with npm install -g into a fresh prefix', () => {
  it('is the bundle and its runtime files: no dependencies, nothing native, no sources', () => {
    const pkgDir = join(prefix, 'lib', 'node_modules', '@hpc-jupyter', 'cli');
    const manifest = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as Record<
      string,
      unknown
    >;
    expect(manifest).toMatchObject({
      name: '@hpc-jupyter/cli',
      version: VERSION,
      bin: { 'hpc-jupyter': 'hpc-jupyter.js' },
    });
    expect(manifest['dependencies']).toBeUndefined();
    const files = filesUnder(pkgDir);
    expect(files).toEqual(
      expect.arrayContaining([
        'hpc-jupyter.js',
        'runtime/packages/core/dist/cli/main.js',
        'runtime/packages/core/dist/kernel/kernel-main.js',
        'runtime/packages/core/schema/clusters.schema.json',
        `runtime/packages/core/job-wheel/hpc_jupyter_job-${VERSION}-py3-none-any.whl`,
        'runtime/templates/jupyter/manifest.yaml',
        'runtime/templates/runtime/runtime.sh',
      ]),
    );
    expect(files.filter((f) => /\.node$|\.ts$|node_modules|__pycache__/.test(f))).toEqual([]);
  });

  it('answers --version, and lists the test cluster with its config', async () => {
    const version = await run(command, ['--version'], base);
    expect(version.code, version.stderr).toBe(0);
    expect(version.stdout.trim()).toBe(`hpc-jupyter ${VERSION}`);
    const listed = await run(command, ['clusters'], agentEnv);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toMatch(/^testlab\s+slurm\s/m);
    expect(listed.stdout).toMatch(/^testlab-other\s+slurm\s/m);
  });

  it('shows the built-in local cluster on a default configuration', async () => {
    const listed = await run(command, ['clusters', '--json'], base);
    expect(listed.code, listed.stderr).toBe(0);
    const { clusters } = JSON.parse(listed.stdout) as { clusters: { name: string }[] };
    expect(clusters.map((c) => c.name)).toEqual(['local']);
  });

  it('starts its agent from the installed package, which serves the templates', async () => {
    const templates = await run(command, ['templates', '--json'], agentEnv);
    expect(templates.code, templates.stderr).toBe(0);
    const names = (JSON.parse(templates.stdout) as { name: string }[]).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(['jupyter', 'kernel', 'dask', 'spark']));
    const health = await new AgentClient(agentSocketPath(agentEnv)).health();
    const argv = cmdlineOf(health.pid).join(' ');
    expect(argv).toContain(join(prefix, 'lib', 'node_modules', '@hpc-jupyter', 'cli'));
    expect(argv).not.toContain(REPO_ROOT);
  });

  it('points at the Python package for the JupyterLab extension, which it does not carry', async () => {
    const installed = await run(
      command,
      ['jupyterlab', 'install', '--prefix', join(root, 'jupyter-prefix')],
      base,
    );
    expect(installed.code).not.toBe(0);
    expect(installed.stderr).toMatch(/pip install hpc-jupyter/);
    expect(installed.stderr).not.toMatch(/npm run build:labextension/);
  });

  it("runs a job on the local cluster with the package's own job scripts", async () => {
    const ran = await run(command, ['run', '--cluster', 'local', '--', 'echo', 'hello from npm'], {
      ...agentEnv,
      HPC_JUPYTER_CONFIG: '',
    });
    expect(ran.code, ran.stderr).toBe(0);
    expect(ran.stdout).toContain('hello from npm');
  });
});
