import { mkdtemp, readFile, stat, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  absoluteProgram,
  hasKernelLauncher,
  jupyterDataDir,
  kernelspecJson,
  kernelspecName,
  writeKernelspec,
} from './kernelspec';
import { hpcCommand } from './settings';

const PROFILE = {
  name: 'spark4',
  displayName: 'Slurm 4-node Spark',
  cluster: 'lab',
  template: 'spark',
  params: { nodes: 4 },
};

describe('kernelspecs for profiles', () => {
  it('names them uniquely, never python3', () => {
    expect(kernelspecName('spark4')).toBe('hpcj-spark4');
    expect(kernelspecName('python3')).toBe('hpcj-python3');
  });

  it('runs the launcher with the profile, message interrupts and metadata naming the profile', () => {
    const command = hpcCommand(
      { command: [], walltimeWarningMinutes: 10 },
      { execPath: '/opt/code/code', isElectron: true, bundledCli: '/ext/dist/hpc-jupyter.js' },
    );
    expect(kernelspecJson(PROFILE, command, '0.1.0')).toEqual({
      argv: [
        '/opt/code/code',
        '/ext/dist/hpc-jupyter.js',
        'kernel',
        '--profile',
        'spark4',
        '-f',
        '{connection_file}',
      ],
      display_name: 'Slurm 4-node Spark',
      language: 'python',
      interrupt_mode: 'message',
      env: { ELECTRON_RUN_AS_NODE: '1' },
      metadata: {
        hpc_jupyter: { profile: 'spark4', cluster: 'lab', template: 'spark', version: '0.1.0' },
        debugger: false,
      },
    });
    const installed = hpcCommand(
      { command: ['/usr/bin/hpc-jupyter'], walltimeWarningMinutes: 10 },
      { execPath: 'x', isElectron: true, bundledCli: 'y' },
    );
    expect(kernelspecJson(PROFILE, installed, '0.1.0')).not.toHaveProperty('env');
  });

  it("finds Jupyter's user data directory", () => {
    expect(jupyterDataDir({ JUPYTER_DATA_DIR: '/j' }, '/home/ada', 'linux')).toBe('/j');
    expect(jupyterDataDir({}, '/home/ada', 'linux')).toBe('/home/ada/.local/share/jupyter');
    expect(jupyterDataDir({ XDG_DATA_HOME: '/x' }, '/home/ada', 'linux')).toBe('/x/jupyter');
    expect(jupyterDataDir({}, '/Users/ada', 'darwin')).toBe('/Users/ada/Library/Jupyter');
  });

  it('writes kernel.json into kernels/<name>', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-ks-'));
    const spec = kernelspecJson(PROFILE, { argv: ['/bin/hpc-jupyter'], env: {} }, '0.1.0');
    const written = await writeKernelspec(dir, 'hpcj-spark4', spec);
    expect(written).toBe(path.join(dir, 'kernels', 'hpcj-spark4'));
    const json = JSON.parse(await readFile(path.join(written, 'kernel.json'), 'utf8')) as unknown;
    expect(json).toEqual(spec);
    expect((await stat(path.join(written, 'kernel.json'))).mode & 0o777).toBe(0o644);
  });

  it('makes argv[0] absolute through the PATH', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-bin-'));
    const program = path.join(dir, 'hpc-jupyter');
    await writeFile(program, '#!/bin/sh\necho "  hpc-jupyter kernel --profile NAME"\n');
    await chmod(program, 0o755);
    expect(await absoluteProgram('hpc-jupyter', { PATH: `/nonexistent:${dir}` })).toBe(program);
    expect(await absoluteProgram('/abs/x', {})).toBe('/abs/x');
    await expect(absoluteProgram('nope-not-here', { PATH: dir })).rejects.toThrow(/PATH/);
    expect(await hasKernelLauncher({ argv: [program], env: {} }, process.env)).toBe(true);
    expect(await hasKernelLauncher({ argv: ['/bin/true'], env: {} }, process.env)).toBe(false);
  });
});
