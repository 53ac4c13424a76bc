/**
 * Sessions that must survive what happens to real users: the agent killed with -9 and started
 * again, a local record lost, the Slurm controller gone for 20 s. And the secrets: the Jupyter
 * token and the kernel key appear nowhere but their 0600 files, and another Unix user on the
 * cluster gets 403 from our Jupyter server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import type { SessionRecord } from '../../packages/core/src/sessions/types.js';
import { executeOnServer } from './jupyter-client.js';
import {
  cli,
  clusterScript,
  inSqueue,
  privateAgentEnv,
  testCluster,
  type TestCluster,
} from './support.js';

const execFileP = promisify(execFile);
const PYTHON = '/opt/hpc-jupyter/venv/bin/python';

let cluster: TestCluster;
let env: Record<string, string>;
let agent: AgentClient;

beforeAll(async () => {
  cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
  agent = new AgentClient(agentSocketPath(env));
});

afterAll(async () => {
  for (const s of await agent.sessions().catch(() => [])) {
    await agent.stopSession(s.id).catch(() => undefined);
  }
  await cli(['agent', 'stop'], env);
});

async function start(
  template: string,
): Promise<{ session: SessionRecord; url: string; token: string }> {
  const started = await cli(
    ['start', template, '--cluster', 'testlab', '--hours', '1', '--json'],
    env,
  );
  expect(started.code, started.stderr).toBe(0);
  return JSON.parse(started.stdout) as { session: SessionRecord; url: string; token: string };
}

async function waitState(
  id: string,
  want: (s: SessionRecord) => boolean,
  timeoutMs: number,
): Promise<SessionRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await agent.session(id);
    if (want(s)) return s;
    if (Date.now() > deadline)
      throw new Error(`session ${id} still ${s.state} (${s.reason ?? ''}) after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('a kernel session driven by a real Jupyter client', () => {
  it('runs code on a compute node through five tunnels', async () => {
    const { session, token: key } = await start('kernel');
    const ports: Record<string, number> = {};
    for (const [channel, endpoint] of [
      ['shell_port', 'kernel'],
      ['iopub_port', 'kernel-iopub'],
      ['stdin_port', 'kernel-stdin'],
      ['control_port', 'kernel-control'],
      ['hb_port', 'kernel-hb'],
    ] as const) {
      ports[channel] = (await agent.access(session.id, { endpoint })).localPort;
    }
    const dir = mkdtempSync(join(tmpdir(), 'hpcj-kernel-'));
    const connection = join(dir, 'kernel.json');
    writeFileSync(
      connection,
      JSON.stringify({
        ...ports,
        ip: '127.0.0.1',
        transport: 'tcp',
        signature_scheme: 'hmac-sha256',
        key,
      }),
      { mode: 0o600 },
    );
    const client = [
      'import sys, jupyter_client',
      'kc = jupyter_client.BlockingKernelClient(connection_file=sys.argv[1])',
      'kc.load_connection_file(); kc.start_channels(); kc.wait_for_ready(timeout=30)',
      'out = []',
      'reply = kc.execute_interactive("import socket; print(socket.gethostname())", timeout=30,',
      '    output_hook=lambda m: out.append(m["content"].get("text", "")) if m["msg_type"] == "stream" else None)',
      'print(reply["content"]["status"], "".join(out).strip())',
    ].join('\n');
    const { stdout } = await execFileP(PYTHON, ['-c', client, connection], { timeout: 60_000 });
    expect(stdout.trim()).toBe(`ok ${session.nodes?.[0] ?? '?'}`);
    expect(stdout.trim()).toMatch(/^ok node[1-4]$/);
    await agent.stopSession(session.id);
  });
});

describe('sessions across agent restarts and controller outages', () => {
  let session: SessionRecord;
  let token: string;

  it('is reattached and reachable after the agent is killed with -9', async () => {
    ({ session, token } = await start('jupyter'));
    const { pid } = await agent.health();
    process.kill(pid, 'SIGKILL');
    const listed = await cli(['list', '--json'], env); // starts a new agent
    expect(listed.code, listed.stderr).toBe(0);
    expect((await agent.health()).pid).not.toBe(pid);
    const again = await waitState(session.id, (s) => s.state === 'ready', 60_000);
    expect(again.jobId).toBe(session.jobId);
    const access = await agent.access(session.id);
    const result = await executeOnServer(access.url, token, 'print(6 * 7)');
    expect(result.stdout.trim()).toBe('42');
  });

  it('shows unknown while slurmctld is down for 20 s, cancels nothing, and recovers', async () => {
    await clusterScript('controller', 'stop');
    try {
      const unknown = await waitState(session.id, (s) => s.state === 'unknown', 30_000);
      expect(unknown.reason ?? '').not.toBe('');
      await new Promise((r) => setTimeout(r, 20_000));
      expect((await agent.session(session.id)).state).toBe('unknown');
    } finally {
      await clusterScript('controller', 'start');
    }
    const back = await waitState(session.id, (s) => s.state === 'ready', 60_000);
    expect(back.jobId).toBe(session.jobId);
    expect(await inSqueue(session.jobId ?? '')).toBe(true);
    const access = await agent.access(session.id);
    expect((await executeOnServer(access.url, token, 'print("still here")')).stdout.trim()).toBe(
      'still here',
    );
  });

  it('keeps the token out of argv, job metadata, the batch script and every log', async () => {
    const jobId = session.jobId ?? '';
    const places: [string, string][] = [
      ['ps on every node', (await execFileP('ps', ['-eo', 'args'], { maxBuffer: 1 << 24 })).stdout],
      ['scontrol show job', await clusterScript('slurm', 'scontrol', 'show', 'job', jobId)],
      [
        'stored batch script',
        await clusterScript('slurm', 'scontrol', 'write', 'batch_script', jobId, '-'),
      ],
      [
        'squeue name and comment',
        await clusterScript('slurm', 'squeue', '--noheader', `--jobs=${jobId}`, '--format=%j %k'),
      ],
      [
        'job log',
        (
          await execFileP(cluster.env.HPCJ_SSH ?? '', [
            cluster.env.HPCJ_TEST_USER ?? '',
            'cat',
            `${session.sessionDir ?? ''}/job.log`,
          ])
        ).stdout,
      ],
      [
        'agent log',
        readFileSync(join(env.XDG_STATE_HOME ?? '', 'hpc-jupyter', 'agent.log'), 'utf8'),
      ],
    ];
    for (const file of listFiles(join(cluster.dir, 'log')))
      places.push([file, readFileSync(file, 'utf8')]);
    for (const file of listFiles(join(env.XDG_STATE_HOME ?? '', 'hpc-jupyter', 'sessions'))) {
      if (!file.includes('/secrets/')) places.push([file, readFileSync(file, 'utf8')]);
    }
    expect(places.length).toBeGreaterThan(8);
    for (const [where, text] of places) {
      expect(text.includes(token), `token found in ${where}`).toBe(false);
    }
    // It is where it belongs: the 0600 file the server reads, on the cluster.
    const mode = (
      await execFileP(cluster.env.HPCJ_SSH ?? '', [
        cluster.env.HPCJ_TEST_USER ?? '',
        'stat',
        '-c',
        '%a',
        `${session.sessionDir ?? ''}/token`,
      ])
    ).stdout.trim();
    expect(mode).toBe('600');
  });

  it('answers another Unix user on the cluster with 403', async () => {
    const endpoint = (await agent.session(session.id)).connection?.endpoints.find(
      (e) => e.name === 'jupyter',
    );
    expect(endpoint).toBeDefined();
    const url = `http://${endpoint?.host ?? ''}:${endpoint?.port ?? 0}${endpoint?.basePath ?? '/'}api/status`;
    const probe = `import urllib.request as u, urllib.error as e\ntry: print(u.urlopen("${url}", timeout=10).status)\nexcept e.HTTPError as x: print(x.code)`;
    const { stdout } = await execFileP(cluster.env.HPCJ_SSH ?? '', [
      cluster.env.HPCJ_OTHER_USER ?? '',
      'python3',
      '-c',
      `'${probe.replaceAll("'", "'\\''")}'`,
    ]);
    expect(stdout.trim()).toBe('403');
  });

  it('lists a job whose local record was deleted as discovered', async () => {
    await cli(['agent', 'stop'], env);
    await new Promise((r) => setTimeout(r, 1000));
    rmSync(join(env.XDG_STATE_HOME ?? '', 'hpc-jupyter', 'sessions', `${session.id}.json`));
    const listed = await cli(['list', '--cluster', 'testlab', '--json'], env);
    expect(listed.code, listed.stderr).toBe(0);
    const found = (JSON.parse(listed.stdout) as SessionRecord[]).find(
      (s) => s.jobId === session.jobId,
    );
    expect(found?.discovered).toBe(true);
    expect(found?.id).toBe(session.id);
    const stopped = await cli(['stop', found?.id ?? ''], env);
    expect(stopped.code, stopped.stderr).toBe(0);
  });
});

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...listFiles(path));
    else out.push(path);
  }
  return out;
}
