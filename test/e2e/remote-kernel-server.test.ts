/**
 * A remote kernel under a real jupyter_server, as JupyterLab uses it: the "Slurm 4-node Python"
 * profile installed as a kernelspec in a temporary prefix (found through JUPYTER_PATH), a
 * session created through the server's REST API with @jupyterlab/services, code executed over
 * its WebSocket: it runs in a 4-node Slurm job on the test cluster, and a step started from the
 * notebook reaches all four nodes. Deleting the session cancels the job.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KernelManager,
  ServerConnection,
  SessionManager,
  KernelSpecManager,
} from '@jupyterlab/services';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import { freePorts } from '../../packages/core/src/kernel/kernel-client.testutil.js';
import { cli, clusterScript, privateAgentEnv, testCluster } from './support.js';

const VENV = process.env['HPC_JUPYTER_VENV'] ?? '/opt/hpc-jupyter/venv';
const PROFILE = 'e2e-slurm4';
const SPEC = `hpcj-${PROFILE}`;

let root: string;
let env: Record<string, string>;
let server: ChildProcess | undefined;
let baseUrl: string;
const token = randomBytes(24).toString('hex');

beforeAll(async () => {
  const cluster = await testCluster();
  root = mkdtempSync(join(tmpdir(), 'hpcj-remote-kernel-server-'));
  env = privateAgentEnv(cluster.configFile);
  env['HPC_JUPYTER_CONFIG'] = join(root, 'clusters.yaml');
  copyFileSync(cluster.configFile, env['HPC_JUPYTER_CONFIG']);
  const installed = await cli(
    [
      'kernelspec',
      'install',
      PROFILE,
      '--cluster',
      'testlab',
      '--nodes',
      '4',
      '--hours',
      '0.5',
      '--name',
      'Slurm 4-node Python',
      '--prefix',
      join(root, 'prefix'),
    ],
    env,
  );
  expect(installed.code, installed.stderr).toBe(0);

  const [port] = (await freePorts(1)) as [number];
  baseUrl = `http://127.0.0.1:${port}/`;
  for (const dir of ['runtime', 'config', 'data', 'notebooks']) mkdirSync(join(root, dir));
  server = spawn(
    join(VENV, 'bin', 'jupyter'),
    [
      'server',
      '--no-browser',
      '--ServerApp.ip=127.0.0.1',
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      `--ServerApp.root_dir=${join(root, 'notebooks')}`,
      ...(process.getuid?.() === 0 ? ['--allow-root'] : []),
    ],
    {
      env: {
        ...process.env,
        ...env,
        // The token from the environment, never argv.
        JUPYTER_TOKEN: token,
        JUPYTER_PATH: join(root, 'prefix', 'share', 'jupyter'),
        JUPYTER_RUNTIME_DIR: join(root, 'runtime'),
        JUPYTER_CONFIG_DIR: join(root, 'config'),
        JUPYTER_DATA_DIR: join(root, 'data'),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let log = '';
  const server$ = { exited: false };
  server.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  server.once('exit', () => (server$.exited = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ok = await fetch(`${baseUrl}api/status`, { headers: { authorization: `token ${token}` } })
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    if (server$.exited || Date.now() > deadline)
      throw new Error(`jupyter server did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}, 120_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  const agent = new AgentClient(agentSocketPath(env));
  for (const s of await agent.sessions().catch(() => [])) {
    if (!['completed', 'failed', 'cancelled', 'timed-out'].includes(s.state)) {
      await agent.stopSession(s.id).catch(() => undefined);
    }
  }
  await cli(['agent', 'stop'], env);
  await rm(root, { recursive: true, force: true });
});

const CODE = [
  'import os, socket, subprocess',
  "step = subprocess.run(['srun', '--overlap', '--nodes=4', '--ntasks=4', 'hostname'],",
  '                      capture_output=True, text=True, timeout=120)',
  "print(socket.gethostname(), os.environ['SLURM_JOB_ID'], os.environ['SLURM_JOB_NUM_NODES'])",
  "print(' '.join(sorted(step.stdout.split())))",
].join('\n');

describe('a remote kernel in a real jupyter_server', () => {
  it('runs a notebook session in a 4-node Slurm job, and deleting the session cancels it', async () => {
    const serverSettings = ServerConnection.makeSettings({
      baseUrl,
      wsUrl: baseUrl.replace(/^http/, 'ws'),
      token,
      appendToken: true,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    });
    const specs = new KernelSpecManager({ serverSettings });
    await specs.ready;
    expect(specs.specs?.kernelspecs[SPEC]?.display_name).toBe('Slurm 4-node Python');

    const kernelManager = new KernelManager({ serverSettings });
    const sessions = new SessionManager({ serverSettings, kernelManager });
    await sessions.ready;
    const session = await sessions.startNew({
      path: 'remote.ipynb',
      type: 'notebook',
      name: 'remote.ipynb',
      kernel: { name: SPEC },
    });
    try {
      const kernel = session.kernel;
      if (kernel === null) throw new Error('the session has no kernel');
      const info = await kernel.info;
      expect(info.language_info.name).toBe('python');

      let stdout = '';
      const future = kernel.requestExecute({ code: CODE });
      future.onIOPub = (msg) => {
        const content = msg.content as { name?: string; text?: string };
        if (msg.header.msg_type === 'stream' && content.name === 'stdout')
          stdout += content.text ?? '';
      };
      const reply = await future.done;
      expect(reply.content.status).toBe('ok');
      const [first, hosts] = stdout.trim().split('\n') as [string, string];
      const [host, jobId, nodes] = first.split(' ') as [string, string, string];
      expect(host).toMatch(/^node[1-4]$/);
      expect(nodes).toBe('4');
      expect(hosts).toBe('node1 node2 node3 node4');
      console.log(`[remote-kernel-server] ran on ${host} in Slurm job ${jobId}: ${hosts}`);

      await session.shutdown();
      const deadline = Date.now() + 15_000;
      while (
        (await clusterScript('slurm', 'squeue', '--noheader', `--jobs=${jobId}`)).trim() !== ''
      ) {
        if (Date.now() > deadline)
          throw new Error(`job ${jobId} still queued 15 s after the shutdown`);
        await new Promise((r) => setTimeout(r, 250));
      }
    } finally {
      session.dispose();
      sessions.dispose();
      kernelManager.dispose();
    }
  }, 300_000);
});
