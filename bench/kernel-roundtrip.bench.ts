/**
 * Benchmark: the remote kernel's cost per message. The round trip of executing `pass` (request
 * sent until its reply and idle status are in) through the launcher and the agent's SSH tunnel to
 * a kernel in a Slurm job on the test cluster, against the same with a local ipykernel connected
 * directly (targets: p50 <= 1.3x, p99 <= 1.5x). Also the launcher alone (in this process, to a
 * local ipykernel, no tunnel), the tunnel alone (the agent's forwards to the same kernel in the
 * job, no launcher) and the relay alone (a local ipykernel on unix sockets behind
 * hpc_jupyter.relay, reached by the local transport's TLS forward, as a job's kernel is but
 * without SSH), to tell their shares apart, and the time to move 10 MB each way: printed by the
 * kernel, and sent to it as the answer to `input()`. The "direct" baseline stays a client talking
 * straight to an ipykernel over TCP: the cost of the bare kernel. Writes
 * .artifacts/bench/kernel-roundtrip.json; cancels its job. Never fails on timing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { fakeRecord } from '../packages/core/src/agent/fake-session-service.js';
import { connectAgent } from '../packages/core/src/agent/connect-agent.js';
import type { Channel, ConnectionInfo } from '../packages/core/src/kernel/connection-info.js';
import {
  TestKernelClient,
  writeConnectionFile,
} from '../packages/core/src/kernel/kernel-client.testutil.js';
import { KernelLauncher } from '../packages/core/src/kernel/launcher.js';
import { LocalTransport } from '../packages/core/src/transport/local.js';
import { ENDPOINT_OF } from '../packages/core/src/kernel/session-link.js';
import { cli, privateAgentEnv, testCluster } from '../test/e2e/support.js';
import { evaluate, median, table, writeResult } from './support/report.js';

const VENV = process.env['HPC_JUPYTER_VENV'] ?? '/opt/hpc-jupyter/venv';
// The two paths to the job's kernel alternate: each gets half the rounds (1000 samples for p99).
const ROUNDS = Number(process.env['HPCJ_BENCH_ROUNDTRIPS'] ?? '2000');
const WARMUP = 30;
const MB10 = 10 * 1024 * 1024;

let root: string;
let env: Record<string, string>;
const children: ChildProcess[] = [];
const clients: TestKernelClient[] = [];
const launchers: KernelLauncher[] = [];
const transports: LocalTransport[] = [];
let remoteClient: TestKernelClient | undefined;

beforeAll(async () => {
  const cluster = await testCluster();
  root = mkdtempSync(join(tmpdir(), 'hpcj-bench-kernel-'));
  env = privateAgentEnv(cluster.configFile);
  env['HPC_JUPYTER_CONFIG'] = join(root, 'clusters.yaml');
  copyFileSync(cluster.configFile, env['HPC_JUPYTER_CONFIG']);
});

afterAll(async () => {
  // A shutdown request cancels the job at once (a killed launcher would only after the grace).
  await remoteClient
    ?.request('control', 'shutdown_request', { restart: false }, 20_000)
    .catch(() => undefined);
  for (const c of clients) c.close();
  for (const l of launchers) await l.terminate().catch(() => undefined);
  for (const t of transports) await t.close();
  for (const child of children) child.kill('SIGTERM');
  await cli(['agent', 'stop'], env);
  await rm(root, { recursive: true, force: true });
});

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function ms(value: number): string {
  return Number.isFinite(value) ? `${value.toFixed(2)} ms` : 'n/a';
}

/**
 * Round trips of `pass`, interleaved (one per group of clients each round), so that a burst of
 * other work on this small machine lands on all paths alike instead of on one path's block. The
 * clients of a group reach the same kernel and take turns, so each kernel answers one request
 * per round: a kernel asked twice in a row answers the second time faster.
 */
async function roundTrips<K extends string>(
  clients: Record<K, TestKernelClient>,
  groups: readonly (readonly K[])[],
): Promise<Record<K, number[]>> {
  const keys = Object.keys(clients) as K[];
  const samples = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (const k of keys) for (let i = 0; i < WARMUP; i++) await clients[k].execute('pass');
  for (let i = 0; i < ROUNDS; i++) {
    for (const group of groups) {
      const k = group[i % group.length] as K;
      const client = clients[k];
      client.clear();
      const t = performance.now();
      await client.execute('pass');
      samples[k].push(performance.now() - t);
    }
  }
  return samples;
}

/** Milliseconds to receive 10 MB printed by the kernel, and to send it 10 MB (an input reply). */
async function bulk(client: TestKernelClient): Promise<{ out: number; in: number }> {
  client.clear();
  let t = performance.now();
  const printed = await client.execute(
    "import sys\nfor _ in range(10):\n    sys.stdout.write('x' * (1 << 20))\nsys.stdout.flush()",
    300_000,
  );
  const out = performance.now() - t;
  if (printed.stdout.length !== MB10) {
    throw new Error(`got ${printed.stdout.length} bytes, not 10 MB`);
  }
  client.clear();
  // Sent as the answer to input(): the kernel only counts it, so the transfer is what is timed.
  const id = await client.send('shell', 'execute_request', {
    code: 'print(len(input()))',
    silent: false,
    store_history: false,
    user_expressions: {},
    allow_stdin: true,
    stop_on_error: true,
  });
  await client.waitFor('input_request', 60_000);
  t = performance.now();
  await client.send('stdin', 'input_reply', { value: 'y'.repeat(MB10) });
  await client.replyTo(id, 300_000);
  const inbound = performance.now() - t;
  const counted = await client.waitIopub(id, (m) => m.header.msg_type === 'stream', 60_000);
  if (String(counted.content['text']).trim() !== String(MB10)) {
    throw new Error(`the kernel saw ${String(counted.content['text'])} bytes`);
  }
  client.clear();
  return { out, in: inbound };
}

function startIpykernel(file: string): void {
  const child = spawn(join(VENV, 'bin', 'python'), ['-m', 'ipykernel_launcher', '-f', file], {
    stdio: 'ignore',
    cwd: root,
  });
  children.push(child);
}

function connect(info: ConnectionInfo): TestKernelClient {
  const client = new TestKernelClient(info);
  clients.push(client);
  return client;
}

/** The launcher in this process, its "job" a local ipykernel: the launcher's own cost. */
async function launcherOnly(key: string, remote: ConnectionInfo): Promise<TestKernelClient> {
  const file = join(root, `launcher-${randomUUID()}.json`);
  const local = await writeConnectionFile(file, key);
  const at = (port: number): string => `tcp://127.0.0.1:${port}`;
  const record = fakeRecord('s0123456789ab', { state: 'ready', jobId: 'local' });
  launchers.push(
    await KernelLauncher.start({
      profile: 'bench',
      connectionFile: file,
      info: local,
      env: {},
      version: 'bench',
      stateDir: join(root, 'state'),
      log: () => undefined,
      exit: () => undefined,
      backend: () =>
        Promise.resolve({
          clusterName: 'local',
          scheduler: 'local',
          displayName: 'bench',
          start: () => Promise.resolve(record),
          live: () => Promise.resolve(undefined),
          lease: () => Promise.resolve(),
          keepFor: () => Promise.resolve(),
          stop: () => Promise.resolve(),
          follow: () => undefined,
          endpoints: () =>
            Promise.resolve({
              shell: at(remote.ports.shell),
              iopub: at(remote.ports.iopub),
              stdin: at(remote.ports.stdin),
              control: at(remote.ports.control),
              hb: at(remote.ports.hb),
            }),
          close: () => undefined,
        }),
    }),
  );
  return connect(local);
}

/**
 * The relay's share: a local ipykernel on unix sockets (as the kernel template starts it, with
 * hpc_jupyter.ipc_kernel) behind hpc_jupyter.relay, reached through the local transport's
 * forwards with the session's certificate, as the agent reaches a job's kernel but without SSH.
 */
async function relayOnly(key: string): Promise<TestKernelClient> {
  const dir = mkdtempSync(join(tmpdir(), 'hpcj-'));
  const prefix = join(dir, 'k');
  const kernelFile = join(root, 'relay-kernel.json');
  writeFileSync(
    kernelFile,
    JSON.stringify({
      ip: prefix,
      transport: 'ipc',
      signature_scheme: 'hmac-sha256',
      key,
      shell_port: 1,
      iopub_port: 2,
      stdin_port: 3,
      control_port: 4,
      hb_port: 5,
    }),
    { mode: 0o600 },
  );
  const python = join(VENV, 'bin', 'python');
  children.push(
    spawn(python, ['-m', 'hpc_jupyter.ipc_kernel', '-f', kernelFile], {
      stdio: 'ignore',
      cwd: root,
    }),
  );
  const channels = ['shell', 'iopub', 'stdin', 'control', 'hb'] as const;
  const portsFile = join(root, 'relay-ports.json');
  const tlsDir = join(root, 'relay-tls');
  children.push(
    spawn(
      python,
      [
        ...['-m', 'hpc_jupyter.relay', 'serve', '--tls-dir', tlsDir, '--host', '127.0.0.1'],
        ...['--name', 'bench-node', '--ports-file', portsFile],
        ...channels.map((c, i) => `${c}=${prefix}-${i + 1}`),
      ],
      { stdio: 'ignore', cwd: root },
    ),
  );
  const deadline = Date.now() + 60_000;
  while (!existsSync(portsFile)) {
    if (Date.now() > deadline) throw new Error('the relay did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const relayPorts = JSON.parse(readFileSync(portsFile, 'utf8')) as Record<Channel, number>;
  const read = (f: string): Buffer => readFileSync(join(tlsDir, f));
  const tls = {
    ca: read('ca.pem'),
    cert: read('cert.pem'),
    key: read('key.pem'),
    serverName: 'bench-node',
  };
  const transport = new LocalTransport();
  transports.push(transport);
  const ports = {} as Record<Channel, number>;
  for (const c of channels) {
    ports[c] = (await transport.forward('127.0.0.1', relayPorts[c], { tls })).localPort;
  }
  return connect({ transport: 'tcp', ip: '127.0.0.1', key, signatureScheme: 'hmac-sha256', ports });
}

/** A remote kernel as VS Code starts one: the kernelspec's argv with a connection file. */
async function remoteKernel(): Promise<TestKernelClient> {
  const installed = await cli(
    [
      'kernelspec',
      'install',
      'bench-kernel',
      '--cluster',
      'testlab',
      '--hours',
      '0.5',
      '--name',
      'Bench',
      '--prefix',
      root,
    ],
    env,
  );
  if (installed.code !== 0) throw new Error(installed.stderr);
  const spec = JSON.parse(
    readFileSync(
      join(root, 'share', 'jupyter', 'kernels', 'hpcj-bench-kernel', 'kernel.json'),
      'utf8',
    ),
  ) as { argv: string[] };
  const file = join(root, `remote-${randomUUID()}.json`);
  const info = await writeConnectionFile(file, randomUUID());
  const [exe, ...args] = spec.argv.map((a) => (a === '{connection_file}' ? file : a));
  const child = spawn(exe as string, args, { env: { ...process.env, ...env }, stdio: 'ignore' });
  children.push(child);
  const client = connect(info);
  remoteClient = client;
  await client.waitReady(10_000);
  // The first execute waits for the job to start and the kernel to answer.
  await client.execute('pass', 300_000);
  return client;
}

/** The agent's tunnels to the remote kernel, without the launcher: the tunnel's share. */
async function tunnelOnly(remote: TestKernelClient): Promise<TestKernelClient> {
  const agent = await connectAgent({ env });
  const session = (await agent.sessions()).find((s) => s.state === 'ready');
  if (session === undefined) throw new Error('no ready session for the remote kernel');
  const ports = { ...remote.info.ports };
  for (const [channel, endpoint] of Object.entries(ENDPOINT_OF) as [Channel, string][]) {
    ports[channel] = (await agent.access(session.id, { endpoint })).localPort;
  }
  const client = connect({ ...remote.info, ports });
  await client.waitReady(10_000);
  return client;
}

describe('kernel round trip', () => {
  it('through the launcher and tunnel, against a directly connected local ipykernel', async () => {
    const key = randomUUID();
    const localFile = join(root, 'local-kernel.json');
    const localInfo = await writeConnectionFile(localFile, key);
    startIpykernel(localFile);
    const direct = connect(localInfo);
    await direct.waitReady(30_000);
    const viaLauncher = await launcherOnly(key, localInfo);
    await viaLauncher.waitReady(10_000);
    await viaLauncher.execute('pass', 30_000);
    const viaRelay = await relayOnly(key);
    await viaRelay.waitReady(60_000);
    await viaRelay.execute('pass', 60_000);
    const remote = await remoteKernel();
    const tunnel = await tunnelOnly(remote);

    const runs = await roundTrips(
      { direct, launcher: viaLauncher, relay: viaRelay, tunnel, remote },
      [['direct'], ['launcher'], ['relay'], ['tunnel', 'remote']],
    );
    const bulks = {
      direct: await bulk(direct),
      launcher: await bulk(viaLauncher),
      remote: await bulk(remote),
    };
    const stats = Object.fromEntries(
      Object.entries(runs).map(([k, v]) => [k, { p50: median(v), p99: percentile(v, 99) }]),
    ) as Record<keyof typeof runs, { p50: number; p99: number }>;

    const labels = {
      direct: 'local ipykernel, direct',
      launcher: 'launcher -> local ipykernel',
      relay: 'TLS forward -> relay -> local ipykernel (ipc)',
      tunnel: 'tunnel -> Slurm job (no launcher)',
      remote: 'launcher -> tunnel -> Slurm job',
    };
    const seconds = (value: number | undefined): string =>
      value === undefined ? '' : `${(value / 1000).toFixed(2)} s`;
    const rows = (Object.keys(runs) as (keyof typeof runs)[]).map((k) => [
      labels[k],
      ms(stats[k].p50),
      ms(stats[k].p99),
      seconds(k === 'tunnel' || k === 'relay' ? undefined : bulks[k].out),
      seconds(k === 'tunnel' || k === 'relay' ? undefined : bulks[k].in),
    ]);
    console.log(
      `\nexecute round trip of \`pass\` (${ROUNDS} rounds) and 10 MB each way\n${table(
        ['path', 'p50', 'p99', '10 MB out', '10 MB in'],
        rows,
      )}\n`,
    );
    const results = [
      evaluate({
        name: 'kernel round trip p50',
        subjectLabel: 'remote',
        subject: stats.remote.p50,
        baselineLabel: 'direct',
        baseline: stats.direct.p50,
        format: ms,
        maxRatio: 1.3,
      }),
      evaluate({
        name: 'kernel round trip p99',
        subjectLabel: 'remote',
        subject: stats.remote.p99,
        baselineLabel: 'direct',
        baseline: stats.direct.p99,
        format: ms,
        maxRatio: 1.5,
      }),
      evaluate({
        name: 'kernel round trip p50, launcher alone',
        subjectLabel: 'launcher',
        subject: stats.launcher.p50,
        baselineLabel: 'direct',
        baseline: stats.direct.p50,
        format: ms,
        maxRatio: 1.3,
      }),
    ];
    const bulkLine =
      `bench kernel 10 MB: out ${(bulks.remote.out / 1000).toFixed(2)} s, in ${(bulks.remote.in / 1000).toFixed(2)} s through the tunnel ` +
      `(direct ${(bulks.direct.out / 1000).toFixed(2)} s / ${(bulks.direct.in / 1000).toFixed(2)} s)`;
    // Where the remote path's extra time goes: the tunnel (agent and sshd) and the launcher.
    // The tunnel includes the relay (TLS in the agent, the relay's hop in the job); the relay
    // line is that part alone, measured on this machine.
    const splitLine =
      `bench kernel round trip p50 over direct: tunnel +${ms(stats.tunnel.p50 - stats.direct.p50)} ` +
      `(of which the TLS forward and relay, measured alone, +${ms(stats.relay.p50 - stats.direct.p50)}), ` +
      `launcher on top +${ms(stats.remote.p50 - stats.tunnel.p50)}`;
    const summary = [...results.map((r) => r.summary), splitLine, bulkLine];
    for (const line of summary) console.log(line);
    // The shape scripts/bench reads back for its closing summary, like the other benchmarks.
    await writeResult('kernel-roundtrip', {
      name: 'kernel-roundtrip',
      finishedAt: new Date().toISOString(),
      rounds: ROUNDS,
      summary,
      samples: runs,
      stats,
      bulk: bulks,
      results,
    });
  });
});
