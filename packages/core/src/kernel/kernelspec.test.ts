// Kernelspecs for profiles: their content, installing (and replacing) one under a prefix,
// listing only ours, removing only ours; and the CLI around them, creating a profile from flags.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kernelspecCommand } from '../cli/kernelspec-command.js';
import {
  buildKernelSpec,
  installKernelSpec,
  jupyterDataDirs,
  jupyterUserDataDir,
  listKernelSpecs,
  removeKernelSpec,
} from './kernelspec.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hpcj-kernelspec-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const PROFILE = {
  name: 'spark4',
  displayName: 'Slurm 4-node Spark',
  cluster: 'testlab',
  template: 'kernel',
};

describe('kernelspecs', () => {
  it('run the launcher by absolute path with interrupts as messages, and name the profile', () => {
    const spec = buildKernelSpec(PROFILE, {
      version: '1.0.0',
      env: { HPC_JUPYTER_CONFIG: 'rel/c.yaml' },
    });
    expect(spec.argv[0]).toBe(process.execPath);
    expect(path.isAbsolute(spec.argv[1] as string)).toBe(true);
    expect(spec.argv[1]).toMatch(/kernel-main\.js$/);
    expect(spec.argv.slice(2)).toEqual([
      'kernel',
      '--profile',
      'spark4',
      '-f',
      '{connection_file}',
    ]);
    expect(spec).toMatchObject({
      display_name: 'Slurm 4-node Spark',
      language: 'python',
      interrupt_mode: 'message',
      env: { HPC_JUPYTER_CONFIG: path.resolve('rel/c.yaml') },
      metadata: { hpc_jupyter: { profile: 'spark4', cluster: 'testlab', template: 'kernel' } },
    });
    expect(buildKernelSpec(PROFILE, { version: '1', env: {} }).env).toBeUndefined();
  });

  it('install, replace, list and remove only our own', async () => {
    const data = path.join(dir, 'share', 'jupyter');
    const spec = buildKernelSpec(PROFILE, { version: '1', env: {} });
    const target = await installKernelSpec(data, 'hpcj-spark4', spec);
    expect(target).toBe(path.join(data, 'kernels', 'hpcj-spark4'));
    await installKernelSpec(data, 'hpcj-spark4', { ...spec, display_name: 'Renamed' });
    mkdirSync(path.join(data, 'kernels', 'python3'));
    writeFileSync(
      path.join(data, 'kernels', 'python3', 'kernel.json'),
      JSON.stringify({ argv: ['python'], display_name: 'Python 3', language: 'python' }),
    );
    const listed = await listKernelSpecs([data]);
    expect(listed.map((s) => [s.name, s.spec.display_name])).toEqual([['hpcj-spark4', 'Renamed']]);
    await expect(removeKernelSpec('python3', [data])).rejects.toThrow(
      /No hpc-jupyter kernelspec named hpcj-python3/,
    );
    expect(await removeKernelSpec('spark4', [data])).toEqual([target]);
    expect(await listKernelSpecs([data])).toEqual([]);
  });

  it('are looked for where Jupyter looks', () => {
    expect(jupyterUserDataDir({}, '/home/ada')).toBe('/home/ada/.local/share/jupyter');
    expect(jupyterUserDataDir({ JUPYTER_DATA_DIR: '/d' }, '/home/ada')).toBe('/d');
    const dirs = jupyterDataDirs({
      JUPYTER_PATH: `/a${path.delimiter}/b`,
      XDG_DATA_HOME: '/x',
      VIRTUAL_ENV: '/venv',
    });
    expect(dirs).toEqual([
      '/a',
      '/b',
      '/x/jupyter',
      '/venv/share/jupyter',
      '/usr/local/share/jupyter',
      '/usr/share/jupyter',
    ]);
  });
});

describe('hpc-jupyter kernelspec', () => {
  function io(env: Record<string, string>): {
    out: PassThrough;
    err: PassThrough;
    env: Record<string, string>;
    text: () => string;
  } {
    const out = new PassThrough();
    const err = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    err.on('data', (d: Buffer) => (text += d.toString()));
    return { out, err, env, text: () => text };
  }

  it('creates a profile from flags, installs it, lists it and removes it', async () => {
    const config = path.join(dir, 'clusters.yaml');
    writeFileSync(config, '# mine\nclusters:\n  lab: { scheduler: local }\n');
    const env = { HPC_JUPYTER_CONFIG: config, HOME: dir };
    const prefix = path.join(dir, 'prefix');
    const first = io(env);
    expect(
      await kernelspecCommand(
        [
          'install',
          '--cluster',
          'lab',
          '--template',
          'kernel',
          '--nodes',
          '4',
          '--name',
          'Slurm 4-node Python',
          '--prefix',
          prefix,
        ],
        first,
      ),
    ).toBe(0);
    expect(first.text()).toContain('Added the profile "slurm-4-node-python"');
    const text = readFileSync(config, 'utf8');
    expect(text).toContain('# mine');
    expect(text).toMatch(
      /slurm-4-node-python:\n {4}displayName: Slurm 4-node Python\n {4}cluster: lab\n {4}template: kernel\n {4}params:\n {6}nodes: 4\n/,
    );
    const spec = JSON.parse(
      readFileSync(
        path.join(prefix, 'share/jupyter/kernels/hpcj-slurm-4-node-python/kernel.json'),
        'utf8',
      ),
    ) as { argv: string[] };
    expect(spec.argv).toContain('slurm-4-node-python');

    const listed = io(env);
    await kernelspecCommand(['list', '--prefix', prefix, '--json'], listed);
    expect(
      (JSON.parse(listed.text()) as { kernelspecs: { name: string }[] }).kernelspecs.map(
        (s) => s.name,
      ),
    ).toEqual(['hpcj-slurm-4-node-python']);

    await expect(
      kernelspecCommand(
        ['install', '--cluster', 'lab', '--template', 'jupyter', '--name', 'x', '--prefix', prefix],
        io(env),
      ),
    ).rejects.toThrow(/starts a server, not a kernel/);
    await expect(
      kernelspecCommand(
        ['install', '--cluster', 'lab', '--nodes', '0', '--name', 'x', '--prefix', prefix],
        io(env),
      ),
    ).rejects.toThrow(/nodes/);
    await expect(
      kernelspecCommand(['install', 'nope', '--prefix', prefix], io(env)),
    ).rejects.toThrow(/No profile named "nope"/);
    await expect(
      kernelspecCommand(['install', 'x', '--user', '--prefix', prefix], io(env)),
    ).rejects.toThrow(/at most one/);

    const removed = io(env);
    await kernelspecCommand(['remove', 'hpcj-slurm-4-node-python', '--prefix', prefix], removed);
    expect(removed.text()).toContain('Removed');
  });
  it('--template spark makes a profile of the kernel that also runs Spark (spark-kernel)', async () => {
    const config = path.join(dir, 'clusters.yaml');
    writeFileSync(config, 'clusters:\n  lab: { scheduler: local }\n');
    const env = { HPC_JUPYTER_CONFIG: config, HOME: dir };
    const prefix = path.join(dir, 'prefix');
    const args = ['install', '--cluster', 'lab', '--nodes', '4', '--prefix', prefix, '--json'];
    const out = io(env);
    expect(
      await kernelspecCommand(
        [...args, '--template', 'spark', '--name', 'Slurm 4-node Spark'],
        out,
      ),
    ).toBe(0);
    expect(readFileSync(config, 'utf8')).toMatch(
      /slurm-4-node-spark:\n {4}displayName: Slurm 4-node Spark\n {4}cluster: lab\n {4}template: spark-kernel\n {4}params:\n {6}nodes: 4\n/,
    );
    const spec = JSON.parse(
      readFileSync(
        path.join(prefix, 'share/jupyter/kernels/hpcj-slurm-4-node-spark/kernel.json'),
        'utf8',
      ),
    ) as { display_name: string; metadata: { hpc_jupyter: { template: string } } };
    expect(spec.display_name).toBe('Slurm 4-node Spark');
    expect(spec.metadata.hpc_jupyter.template).toBe('spark-kernel');
    // An engine with no kernel made from it is still refused.
    await expect(
      kernelspecCommand([...args, '--template', 'dask', '--name', 'x'], io(env)),
    ).rejects.toThrow(/starts an engine, not a kernel/);
  });
});
