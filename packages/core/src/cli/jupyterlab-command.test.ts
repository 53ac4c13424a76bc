import { mkdtemp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { agentSocketPath } from '../agent/socket-path.js';
import { installJupyterlab, uninstallJupyterlab } from './jupyterlab-command.js';

async function fakeBuild(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'hpcj-labext-'));
  await mkdir(path.join(dir, 'static'));
  await writeFile(path.join(dir, 'package.json'), '{"name":"@hpc-jupyter/jupyterlab"}');
  await writeFile(path.join(dir, 'static', 'remoteEntry.js'), '');
  return dir;
}

describe('hpc-jupyter jupyterlab install', () => {
  it('copies the built extension with install.json and registers the agent socket', async () => {
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
    const config = JSON.parse(await readFile(result.serverConfigFile, 'utf8')) as unknown;
    expect(result.serverConfigFile).toBe(
      path.join(prefix, 'etc/jupyter/jupyter_server_config.json'),
    );
    expect(config).toEqual({
      ServerProxy: {
        servers: {
          'hpc-jupyter': {
            unix_socket: agentSocketPath(env),
            launcher_entry: { enabled: false },
            new_browser_tab: false,
          },
        },
      },
    });
  });

  it('keeps the other settings of jupyter_server_config.json, and uninstall removes only ours', async () => {
    const prefix = await mkdtemp(path.join(tmpdir(), 'hpcj-prefix-'));
    const file = path.join(prefix, 'etc/jupyter/jupyter_server_config.json');
    await mkdir(path.dirname(file), { recursive: true });
    const theirs = {
      ServerApp: { open_browser: false },
      ServerProxy: { servers: { rstudio: { port: 8787 } } },
    };
    await writeFile(file, JSON.stringify(theirs));
    await installJupyterlab({ kind: 'prefix', prefix }, {}, await fakeBuild());
    const merged = JSON.parse(await readFile(file, 'utf8')) as typeof theirs;
    expect(merged.ServerApp).toEqual({ open_browser: false });
    expect(Object.keys(merged.ServerProxy.servers).sort()).toEqual(['hpc-jupyter', 'rstudio']);
    const removed = await uninstallJupyterlab({ kind: 'prefix', prefix }, {});
    expect(removed).toHaveLength(2);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(theirs);
  });

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
