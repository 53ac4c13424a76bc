/**
 * Every TCP port a session opens refuses the second user. For a kernel, a Jupyter, a Dask, an
 * ipyparallel and a Spark session (with Spark Connect) on the 4-node test cluster, each with
 * every endpoint forwarded through the agent and its client files attached, the test lists every
 * listening socket owned by the test user on every node and the login node, and every listening
 * socket of the agent's process tree on this machine, and probes each one as `hpcjother`: from
 * another node for a node's own addresses, from the same node for its loopback, from this
 * machine for the agent's forwards. Each must end in a refusal: no listener, a closed
 * connection, a TLS failure, HTTP 401/403, a ZeroMQ socket that wants CURVE keys, or a gRPC
 * call refused for want of the token. The counts are printed for the closing note.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import { startEngine, stopEngine, type EngineSession } from './engines-support.js';
import {
  listenersIn,
  probeAsOther,
  holdersOfInodes,
  refused,
  socketInodesOfTree,
  uidOf,
  type Listener,
  type Probe,
} from './second-user.js';
import { privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

const NODES = ['node1', 'node2', 'node3', 'node4'] as const;
const nodeAddress = (node: string): string => `10.77.0.1${node.slice(4)}`;
/** Where the second user probes a node's non-loopback ports from: a node the session may not use. */
const probeFrom = (node: string): string => (node === 'node1' ? 'hpcj-node4' : 'hpcj-node1');

interface Found {
  readonly where: string;
  /** The process holding the socket, "comm(pid)". */
  readonly process?: string;
  readonly listener: Listener;
  readonly probe: Probe;
}

let env: Record<string, string>;
let agent: AgentClient;
const found: Found[] = [];

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
  agent = new AgentClient(agentSocketPath(env));
});

afterAll(async () => {
  await stopPrivateAgent(env);
  const refusedCount = found.filter((f) => refused(f.probe.verdict)).length;
  console.log(
    `second-user scan: ${found.length} ports found, ${refusedCount} refused\n` +
      found
        .map(
          (f) =>
            `  ${f.where} ${f.listener.address}:${f.listener.port} ${f.process ?? '?'} -> ${f.probe.verdict} (${f.probe.detail})`,
        )
        .join('\n'),
  );
});

/** Opens every endpoint's forward and the engine's client files, as a user of the session would. */
async function openEverything(s: EngineSession, engine: boolean): Promise<void> {
  for (const e of s.endpoints) await agent.access(s.id, { endpoint: e.name });
  if (engine) await agent.attach(s.id);
}

/** Lists and probes every port of the test user on the cluster and of the agent here. */
async function scan(label: string, session: EngineSession): Promise<Found[]> {
  // A server whose "/" is not found is asked on the session's own paths (Jupyter's API).
  const paths = [
    ...new Set(
      session.endpoints.flatMap((e) => {
        const base = (e as { basePath?: string }).basePath;
        return base === undefined ? [] : [base, `${base.replace(/\/?$/, '/')}api/kernels`];
      }),
    ),
  ];
  const owner = uidOf('hpcjtest');
  const results: Found[] = [];
  for (const node of NODES) {
    const netns = `hpcj-${node}`;
    const ofUser = (await listenersIn(netns)).filter((l) => l.uid === owner);
    // Only this session's job: other tests' sessions may run meanwhile.
    const jobs = holdersOfInodes(new Set(ofUser.map((l) => l.inode)));
    const mine = ofUser.filter((l) => jobs.get(l.inode)?.jobId === session.jobId);
    const local = mine.filter((l) => l.address.startsWith('127.') || l.address === '::1');
    const remote = mine.filter((l) => !local.includes(l));
    const probes = [
      ...(await probeAsOther(
        local.map((l) => ({ host: '127.0.0.1', port: l.port, paths })),
        netns,
      )),
      ...(await probeAsOther(
        remote.map((l) => ({ host: nodeAddress(node), port: l.port, paths })),
        probeFrom(node),
      )),
    ];
    [...local, ...remote].forEach((listener, i) => {
      const probe = probes[i];
      if (probe !== undefined) results.push({ where: `${label}/${node}`, listener, probe });
    });
  }
  const head = (await listenersIn('hpcj-head')).filter((l) => l.uid === owner);
  const headProbes = await probeAsOther(
    head.map((l) => ({
      host: l.address.startsWith('127.') ? '127.0.0.1' : '10.77.0.1',
      port: l.port,
    })),
    'hpcj-head',
  );
  head.forEach((listener, i) => {
    const probe = headProbes[i];
    if (probe !== undefined) results.push({ where: `${label}/head`, listener, probe });
  });
  const { pid } = await agent.health();
  const inodes = socketInodesOfTree([pid]);
  const here = (await listenersIn()).filter((l) => inodes.has(l.inode));
  const hereProbes = await probeAsOther(
    here.map((l) => ({ host: '127.0.0.1', port: l.port, paths })),
  );
  here.forEach((listener, i) => {
    const probe = hereProbes[i];
    if (probe !== undefined) results.push({ where: `${label}/agent`, listener, probe });
  });
  const holders = holdersOfInodes(new Set(results.map((f) => f.listener.inode)));
  const named = results.map((f) => {
    const holder = holders.get(f.listener.inode);
    return holder === undefined ? f : { ...f, process: `${holder.comm}(${holder.pid})` };
  });
  found.push(...named);
  return named;
}

function expectAllRefused(results: readonly Found[]): void {
  const open = results.filter((f) => !refused(f.probe.verdict));
  expect(
    open.map(
      (f) =>
        `${f.where} ${f.listener.address}:${f.listener.port} ${f.process ?? '?'} ${f.probe.verdict}: ${f.probe.detail}`,
    ),
  ).toEqual([]);
}

describe('every port of a session refuses the second user', () => {
  it('a kernel session', async () => {
    const s = await startEngine(env, 'kernel', ['--nodes', '1']);
    try {
      await openEverything(s, false);
      const results = await scan('kernel', s);
      // The kernel's job listens somewhere and the agent forwards it: the scan saw both.
      expect(results.some((f) => f.where.endsWith('/agent'))).toBe(true);
      expect(results.some((f) => !f.where.endsWith('/agent'))).toBe(true);
      expectAllRefused(results);
    } finally {
      await stopEngine(env, s);
    }
  }, 240_000);

  it.each([
    ['jupyter', ['--nodes', '1']],
    ['dask', ['--nodes', '4']],
    ['ipyparallel', ['--nodes', '4']],
    ['spark', ['--nodes', '4', '--param', 'connectServer=true']],
  ] as const)(
    'a %s session',
    async (template, args) => {
      const s = await startEngine(env, template, args);
      try {
        await openEverything(s, template !== 'jupyter');
        const results = await scan(template, s);
        expect(results.filter((f) => !f.where.endsWith('/agent')).length).toBeGreaterThan(0);
        expectAllRefused(results);
      } finally {
        await stopEngine(env, s);
      }
    },
    420_000,
  );
});
