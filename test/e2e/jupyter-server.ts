/**
 * A real jupyter_server or JupyterLab from the venv for end-to-end tests: started on a free
 * loopback port with the token in its environment (never argv), awaited until /api/status
 * answers, and stopped with SIGTERM (SIGKILL after 10 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ServerConnection } from '@jupyterlab/services';
import WebSocket from 'ws';
import { freePorts } from '../../packages/core/src/kernel/kernel-client.testutil.js';
import { cli, privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

export const VENV_BIN = join(process.env['HPC_JUPYTER_VENV'] ?? '/opt/hpc-jupyter/venv', 'bin');

export interface JupyterOptions {
  /** `jupyter server` or `jupyter lab` (the latter with the app exposed for playwright). */
  readonly app: 'server' | 'lab';
  readonly env: NodeJS.ProcessEnv;
  readonly token: string;
  readonly rootDir: string;
  /** A fixed port, e.g. to restart on the same URL; a free one by default. */
  readonly port?: number;
  readonly startTimeoutMs?: number;
  /** The `jupyter` command to run. Default: the venv's (VENV_BIN). */
  readonly jupyter?: string;
}

export interface JupyterProcess {
  /** http://127.0.0.1:PORT/ */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export async function startJupyter(options: JupyterOptions): Promise<JupyterProcess> {
  const port = options.port ?? ((await freePorts(1)) as [number])[0];
  const url = `http://127.0.0.1:${port}/`;
  const args =
    options.app === 'lab'
      ? ['lab', '--LabApp.expose_app_in_browser=True']
      : ['server', '--ServerApp.port_retries=0'];
  const child = spawn(
    options.jupyter ?? join(VENV_BIN, 'jupyter'),
    [
      ...args,
      '--no-browser',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      `--ServerApp.root_dir=${options.rootDir}`,
      ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
    ],
    { env: { ...options.env, JUPYTER_TOKEN: options.token }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr.on('data', (d: Buffer) => {
    log = (log + d.toString()).slice(-20_000);
  });
  const timeout = options.startTimeoutMs ?? 90_000;
  const deadline = Date.now() + timeout;
  for (;;) {
    const ok = await fetch(`${url}api/status`, {
      headers: { authorization: `token ${options.token}` },
    })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`jupyter ${options.app} did not start within ${timeout} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { url, port, stop: () => stopChild(child) };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<boolean>((resolve) =>
    child.once('exit', () => {
      resolve(true);
    }),
  );
  child.kill('SIGTERM');
  const timer = new Promise<boolean>((resolve) =>
    setTimeout(() => {
      resolve(false);
    }, 10_000),
  );
  if (!(await Promise.race([exited, timer]))) child.kill('SIGKILL');
}

/** What @jupyterlab/services needs to talk to the server at `url` from Node. */
export function serverSettingsFor(url: string, token: string): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl: url,
    wsUrl: url.replace(/^http/, 'ws'),
    token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
}

export interface KernelServer {
  /** The private agent's environment, with the file's own copy of the cluster config. */
  readonly env: Record<string, string>;
  /** The config file that `kernelspec install` wrote the profile into. */
  readonly configFile: string;
  readonly settings: ServerConnection.ISettings;
  /** Stops the server, every session the private agent still runs, and the agent. */
  close(): Promise<void>;
}

/**
 * A jupyter_server whose only extra kernelspec is PROFILE, installed by `hpc-jupyter kernelspec
 * install PROFILE ...installArgs` into a temporary prefix (found through JUPYTER_PATH), with a
 * private agent on the test cluster behind it.
 */
export async function serveKernelProfile(
  profile: string,
  installArgs: readonly string[],
): Promise<KernelServer> {
  const cluster = await testCluster();
  const root = mkdtempSync(join(tmpdir(), `hpcj-${profile}-`));
  const configFile = join(root, 'clusters.yaml');
  copyFileSync(cluster.configFile, configFile);
  const env = { ...privateAgentEnv(cluster.configFile), HPC_JUPYTER_CONFIG: configFile };
  const close = async (server?: JupyterProcess): Promise<void> => {
    await server?.stop();
    await stopPrivateAgent(env);
    await rm(root, { recursive: true, force: true });
  };
  try {
    const prefix = join(root, 'prefix');
    const installed = await cli(
      ['kernelspec', 'install', profile, ...installArgs, '--prefix', prefix],
      env,
    );
    if (installed.code !== 0) throw new Error(`kernelspec install failed:\n${installed.stderr}`);
    for (const dir of ['runtime', 'config', 'data', 'notebooks']) mkdirSync(join(root, dir));
    const token = randomBytes(24).toString('hex');
    const server = await startJupyter({
      app: 'server',
      token,
      rootDir: join(root, 'notebooks'),
      env: {
        ...process.env,
        ...env,
        JUPYTER_PATH: join(prefix, 'share', 'jupyter'),
        JUPYTER_RUNTIME_DIR: join(root, 'runtime'),
        JUPYTER_CONFIG_DIR: join(root, 'config'),
        JUPYTER_DATA_DIR: join(root, 'data'),
      },
    });
    return {
      env,
      configFile,
      settings: serverSettingsFor(server.url, token),
      close: () => close(server),
    };
  } catch (err) {
    await close();
    throw err;
  }
}
