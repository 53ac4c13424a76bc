/**
 * What the JupyterLab end-to-end tests share: the extension built and installed the way a user
 * installs it (`hpc-jupyter jupyterlab install` into a private prefix), the environment that
 * JupyterLab then runs in, and Debian's Chromium started the way this machine allows.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';
import { expect } from 'vitest';
import { VENV_BIN } from './jupyter-server.js';
import { cli, REPO_ROOT } from './support.js';

const execFileP = promisify(execFile);

/**
 * Builds the prebuilt extension (labextension/ is a gitignored build output: a fresh clone must
 * make it from lib/), installs it into `prefix` with the CLI, and returns the environment for a
 * JupyterLab that finds it there and reaches the private agent of `env`.
 */
export async function installLabExtension(
  env: Readonly<Record<string, string>>,
  prefix: string,
): Promise<NodeJS.ProcessEnv> {
  await execFileP(
    process.execPath,
    [join(REPO_ROOT, 'packages', 'jupyterlab-ext', 'scripts', 'build-labextension.mjs')],
    { timeout: 180_000 },
  );
  const installed = await cli(['jupyterlab', 'install', '--prefix', prefix, '--json'], env);
  expect(installed.code, installed.stderr).toBe(0);
  return {
    ...process.env,
    ...env,
    PATH: `${VENV_BIN}:${process.env.PATH ?? ''}`,
    JUPYTER_PATH: join(prefix, 'share', 'jupyter'),
    JUPYTER_RUNTIME_DIR: join(prefix, 'runtime'),
    ...enableUiRoute(prefix),
  };
}

/**
 * The environment for a Jupyter server with this tree's hpc_jupyter (PYTHONPATH) and its web UI
 * link route enabled the way a pip install enables it: the package's own
 * `jupyter_server_config.d/hpc_jupyter.json`, here copied into `<prefix>/etc/jupyter`.
 */
export function enableUiRoute(prefix: string): Record<string, string> {
  const source = join(REPO_ROOT, 'templates', 'python');
  const configDir = join(prefix, 'etc', 'jupyter', 'jupyter_server_config.d');
  mkdirSync(configDir, { recursive: true });
  copyFileSync(
    join(source, 'hpc_jupyter', 'jupyter_server_config.d', 'hpc_jupyter.json'),
    join(configDir, 'hpc_jupyter.json'),
  );
  const before = process.env['PYTHONPATH'];
  return {
    PYTHONPATH: before === undefined || before === '' ? source : `${source}:${before}`,
    JUPYTER_CONFIG_PATH: join(prefix, 'etc', 'jupyter'),
  };
}

/** Debian's Chromium, headless, with nothing that reaches outside this machine. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}
