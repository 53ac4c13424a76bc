import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentSocketPath } from '../agent/socket-path.js';
import {
  hasRouteEntryPoint,
  installJupyterlab,
  pythonFor,
  uninstallJupyterlab,
} from './jupyterlab-command.js';

const VENV_PYTHON = path.join(
  process.env['HPC_JUPYTER_VENV'] ?? '/opt/hpc-jupyter/venv',
  'bin',
  'python',
);

async function fakeBuild(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hpcj-labext-'));
  await mkdir(path.join(dir, 'static'));
  await writeFile(path.join(dir, 'package.json'), '{"name":"@hpc-jupyter/jupyterlab"}');
  await writeFile(path.join(dir, 'static', 'remoteEntry.js'), '');
  return dir;
}

describe('hpc-jupyter jupyterlab install', () => {
  it('copies the built extension with install.json, and writes no socket path into any config', async () => {
    const prefix = await mkdtemp(path.join(tmpdir(), 'hpcj-prefix-'));
    const env = { XDG_RUNTIME_DIR: '/run/user/4242' };
    const result = await installJupyterlab({ kind: 'prefix', prefix }, env, await fakeBuild());
    const ext = path.join(prefix, 'share/jupyter/labextensions/@hpc-jupyter/jupyterlab');
    expect(result.extensionDir).toBe(ext);
    const install = JSON.parse(await readFile(path.join(ext, 'install.json'), 'utf8')) as Record<
      string,
      string
    >;
    expect(install['packageName']).toBe('@hpc-jupyter/jupyterlab');
    await readFile(path.join(ext, 'static', 'remoteEntry.js'));
    // The route is the Python package's entry point: nothing user-specific lands in the prefix.
    expect(result.legacyConfigCleaned).toBeUndefined();
    await expect(
      readFile(path.join(prefix, 'etc/jupyter/jupyter_server_config.json')),
    ).rejects.toThrow(/ENOENT/);
    const everything = await readdir(prefix, { recursive: true });
    for (const name of everything) {
      const file = path.join(prefix, name);
      if ((await stat(file)).isFile()) {
        expect(await readFile(file, 'utf8'), file).not.toContain(agentSocketPath(env));
      }
    }
  });

  it("removes an older version's fixed socket entry, keeping every other setting; uninstall removes only ours", async () => {
    const prefix = await mkdtemp(path.join(tmpdir(), 'hpcj-prefix-'));
    const file = path.join(prefix, 'etc/jupyter/jupyter_server_config.json');
    await mkdir(path.dirname(file), { recursive: true });
    const theirs = {
      ServerApp: { open_browser: false },
      ServerProxy: { servers: { rstudio: { port: 8787 } } },
    };
    const legacy = {
      ...theirs,
      ServerProxy: {
        servers: {
          ...theirs.ServerProxy.servers,
          'hpc-jupyter': { unix_socket: '/tmp/hpc-jupyter-0/agent.sock' },
        },
      },
    };
    await writeFile(file, JSON.stringify(legacy));
    const result = await installJupyterlab({ kind: 'prefix', prefix }, {}, await fakeBuild());
    expect(result.legacyConfigCleaned).toBe(file);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(theirs);
    const removed = await uninstallJupyterlab({ kind: 'prefix', prefix }, {});
    expect(removed).toHaveLength(1);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(theirs);
    await writeFile(file, JSON.stringify(legacy));
    expect(await uninstallJupyterlab({ kind: 'prefix', prefix }, {})).toEqual([
      `${file} (ServerProxy.servers.hpc-jupyter)`,
    ]);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(theirs);
  });

  it("checks the prefix's own Python for the route's entry point", async () => {
    const prefix = await mkdtemp(path.join(tmpdir(), 'hpcj-prefix-'));
    expect(await pythonFor({ kind: 'prefix', prefix }, {})).toBe('python3');
    await mkdir(path.join(prefix, 'bin'));
    await writeFile(path.join(prefix, 'bin', 'python'), '#!/bin/sh\nexit 3\n', { mode: 0o755 });
    const python = await pythonFor({ kind: 'prefix', prefix }, {});
    expect(python).toBe(path.join(prefix, 'bin', 'python'));
    expect(await hasRouteEntryPoint(python, {})).toBe(false);
    expect(await hasRouteEntryPoint(path.join(prefix, 'nothing'), {})).toBeUndefined();
    expect(await pythonFor({ kind: 'sys-prefix', python: '/x/python' }, {})).toBe('/x/python');
  });

  it.runIf(existsSync(VENV_PYTHON))(
    "finds the entry point in the jobs' venv, where scripts/install put the package",
    async () => {
      expect(await hasRouteEntryPoint(VENV_PYTHON, {})).toBe(true);
    },
  );

  it('refuses to overwrite a config file that is not JSON', async () => {
    const prefix = await mkdtemp(path.join(tmpdir(), 'hpcj-prefix-'));
    const file = path.join(prefix, 'etc/jupyter/jupyter_server_config.json');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, '{ not json');
    await expect(
      installJupyterlab({ kind: 'prefix', prefix }, {}, await fakeBuild()),
    ).rejects.toThrow(/is not valid JSON/);
    expect(await readFile(file, 'utf8')).toBe('{ not json');
  });

  it('says how to build the extension when it is missing', async () => {
    const prefix = await mkdtemp(path.join(tmpdir(), 'hpcj-prefix-'));
    await expect(
      installJupyterlab({ kind: 'prefix', prefix }, {}, path.join(prefix, 'nothing')),
    ).rejects.toThrow(/not built/);
  });
});
