/**
 * A3 for kernels: while the owner's cell prints a marker every 100 ms, the second user
 * (`hpcjother`) subscribes with ZeroMQ to everything it can find of the kernel and reads nothing:
 * (a) from another node, every TCP port the owner listens on in the kernel node's namespace
 * (found in its /proc/net/tcp, not taken from connection.json), and the loopback ones from the
 * node itself; (b) from the node, the kernel's unix sockets (permission denied); (c) on this
 * machine, every port the agent's process tree listens on (its forwards). The owner gets every
 * marker. The same for a kernel that a Jupyter server in a job started: no TCP listener of that
 * job's processes but the token-protected server, and the kernel's sockets closed to others.
 * A control subscription in the attacker's own script proves it would have counted messages.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { KernelManager } from '@jupyterlab/services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import type { Channel } from '../../packages/core/src/kernel/connection-info.js';
import { TestKernelClient } from '../../packages/core/src/kernel/kernel-client.testutil.js';
import { ENDPOINT_OF } from '../../packages/core/src/kernel/session-link.js';
import type { SessionRecord } from '../../packages/core/src/sessions/types.js';
import { JOB_PYTHON } from './engines-support.js';
import { execute } from './jupyter-client.js';
import { serverSettingsFor } from './jupyter-server.js';
import {
  asOther,
  parseListeners,
  socketInodesOfTree,
  uidOf,
  type Listener,
} from './second-user.js';
import { cli, privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

const MARKERS = 60;
const MARKER_CELL = `import time\nfor i in range(${MARKERS}):\n    print("hpcj-marker-%d" % i, flush=True)\n    time.sleep(0.1)`;
const LISTEN_S = 4;
// Other files' jobs may hold every node for a while: a start waits in the queue.

const nodeAddress = (node: string): string => `10.77.0.1${node.slice(4)}`;
const otherNode = (node: string): string => (node === 'node1' ? 'node4' : 'node1');

// The attacker: a SUB (subscribed to everything) on every tcp and ipc target, counting what
// arrives for a few seconds; a plain connect() on each unix socket for its error; and a control
// PUB/SUB pair of its own that must count messages, or the zeros above would prove nothing.
const ATTACK_PY = String.raw`
import json, os, socket, sys, tempfile, time, zmq
spec = json.load(sys.stdin)
ctx = zmq.Context()
subs = []
def sub(url):
    s = ctx.socket(zmq.SUB)
    s.linger = 0
    s.setsockopt(zmq.SUBSCRIBE, b"")
    s.connect(url)
    subs.append(s)
for host, port in spec["tcp"]:
    sub("tcp://%s:%d" % (host, port))
unix = {}
for path in spec["ipc"]:
    sub("ipc://" + path)
    u = socket.socket(socket.AF_UNIX)
    try:
        u.connect(path)
        unix[path] = "connected"
    except OSError as e:
        unix[path] = e.strerror
    finally:
        u.close()
control_path = os.path.join(tempfile.mkdtemp(), "control")
pub = ctx.socket(zmq.PUB)
pub.bind("ipc://" + control_path)
control = ctx.socket(zmq.SUB)
control.setsockopt(zmq.SUBSCRIBE, b"")
control.connect("ipc://" + control_path)
poller = zmq.Poller()
for s in subs + [control]:
    poller.register(s, zmq.POLLIN)
messages, controls = 0, 0
deadline = time.time() + spec["seconds"]
while time.time() < deadline:
    pub.send(b"control")
    for s, _ in poller.poll(100):
        while True:
            try:
                s.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            if s is control:
                controls += 1
            else:
                messages += 1
print(json.dumps({"messages": messages, "controls": controls, "unix": unix, "subscribed": len(subs)}))
`;

interface Attack {
  readonly messages: number;
  readonly controls: number;
  readonly unix: Record<string, string>;
  readonly subscribed: number;
}

async function attack(
  targets: { tcp?: readonly (readonly [string, number])[]; ipc?: readonly string[] },
  netns?: string,
): Promise<Attack> {
  const ran = await asOther([JOB_PYTHON, '-c', ATTACK_PY], {
    ...(netns === undefined ? {} : { netns }),
    input: JSON.stringify({ tcp: targets.tcp ?? [], ipc: targets.ipc ?? [], seconds: LISTEN_S }),
    timeoutMs: 60_000,
  });
  if (ran.code !== 0) throw new Error(`attack failed (${ran.code}): ${ran.stderr}`);
  const result = JSON.parse(ran.stdout.trim().split('\n').pop() ?? '{}') as Attack;
  expect(result.controls, 'the attacker counts messages where there are some').toBeGreaterThan(0);
  return result;
}

/** Listening TCP sockets in a node's namespace (or this machine's), read as root. */
function listenersIn(netns?: string): Listener[] {
  const cat = (table: string): string =>
    netns === undefined
      ? readFileSync(table, 'utf8')
      : execFileSync('nsenter', [`--net=/run/netns/${netns}`, 'cat', table], { encoding: 'utf8' });
  return parseListeners(cat('/proc/net/tcp'), cat('/proc/net/tcp6'));
}

/** The parent pid of a process (the job's shell, for the kernel it started). */
function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/**
 * The owner's listeners in the node's namespace, as targets: loopback ones are attacked from
 * the node itself, the others from another node at the node's address.
 */
function targetsOf(listeners: readonly Listener[], node: string) {
  const remote: [string, number][] = [];
  const local: [string, number][] = [];
  for (const l of listeners) {
    if (l.address.startsWith('127.') || l.address === '::1') local.push([l.address, l.port]);
    else remote.push([nodeAddress(node), l.port]);
  }
  return { remote, local };
}

let env: Record<string, string>;
let agent: AgentClient;
let owner: number;

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
  agent = new AgentClient(agentSocketPath(env));
  owner = uidOf('hpcjtest');
});

afterAll(async () => {
  await stopPrivateAgent(env);
});

async function start(template: string): Promise<{ session: SessionRecord; token: string }> {
  const started = await cli(
    ['start', template, '--cluster', 'testlab', '--hours', '0.5', '--json'],
    env,
  );
  expect(started.code, started.stderr).toBe(0);
  return JSON.parse(started.stdout) as { session: SessionRecord; token: string };
}

describe('a kernel in a job, attacked by another user while it prints', () => {
  it('gives the second user nothing, from another node, the node or this machine', async () => {
    const { session, token: key } = await start('kernel');
    const node = session.nodes?.[0] ?? '';
    expect(node).toMatch(/^node[1-4]$/);
    const raw = session.connection?.raw ?? {};
    const relayPorts = (['shell', 'iopub', 'stdin', 'control', 'hb'] as const).map((c) =>
      Number(raw[`${c}_port`]),
    );

    // The owner, through the agent's forwards (which speak TLS to the relay).
    const ports: Record<string, number> = {};
    for (const [channel, endpoint] of Object.entries(ENDPOINT_OF) as [Channel, string][]) {
      ports[channel] = (await agent.access(session.id, { endpoint })).localPort;
    }
    const client = new TestKernelClient({
      ip: '127.0.0.1',
      transport: 'tcp',
      key,
      signatureScheme: 'hmac-sha256',
      ports: ports as Record<Channel, number>,
    });
    try {
      await client.waitReady(60_000);

      // What the second user can find: every listener of the owner on the kernel's node, the
      // job's own among them (its processes' sockets), and the kernel's unix sockets.
      const netns = `hpcj-${node}`;
      const listeners = listenersIn(netns).filter((l) => l.uid === owner);
      const jobInodes = socketInodesOfTree([parentOf(Number(raw['pid']))]);
      const jobPorts = listeners.filter((l) => jobInodes.has(l.inode)).map((l) => l.port);
      expect(jobPorts.sort()).toEqual([...relayPorts].sort());
      const kernelFile = `${session.sessionDir ?? ''}/runtime/kernel.json`;
      const kernelInfo = JSON.parse(readFileSync(kernelFile, 'utf8')) as {
        ip: string;
        transport: string;
      };
      expect(kernelInfo.transport).toBe('ipc');
      const sockets = [1, 2, 3, 4, 5].map((n) => `${kernelInfo.ip}-${n}`);
      sockets.push(`${kernelInfo.ip}-pipe`);
      const agentInodes = socketInodesOfTree([(await agent.health()).pid]);
      const forwards = listenersIn().filter((l) => agentInodes.has(l.inode));
      for (const port of Object.values(ports)) {
        expect(forwards.map((f) => f.port)).toContain(port);
      }

      const { remote, local } = targetsOf(listeners, node);
      const id = await client.send('shell', 'execute_request', {
        code: MARKER_CELL,
        silent: false,
        store_history: false,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: true,
      });
      await client.waitIopub(id, (m) => m.header.msg_type === 'stream', 20_000);
      const [fromOtherNode, fromNode, fromHere] = await Promise.all([
        attack({ tcp: remote }, `hpcj-${otherNode(node)}`),
        attack({ tcp: local, ipc: sockets }, netns),
        attack({ tcp: forwards.map((f) => [f.address, f.port] as const) }),
      ]);
      await client.replyTo(id, 60_000);
      await client.waitIopub(
        id,
        (m) => m.header.msg_type === 'status' && m.content['execution_state'] === 'idle',
        20_000,
      );
      const stdout = client
        .outputsOf(id)
        .filter((m) => m.header.msg_type === 'stream')
        .map((m) => String(m.content['text']))
        .join('');

      expect(fromOtherNode.subscribed).toBe(remote.length);
      expect(fromOtherNode.messages).toBe(0);
      expect(fromNode.messages).toBe(0);
      expect(Object.values(fromNode.unix)).toEqual(sockets.map(() => 'Permission denied'));
      expect(fromHere.subscribed).toBe(forwards.length);
      expect(fromHere.messages).toBe(0);
      const markers = stdout.split('\n').filter((l) => l.startsWith('hpcj-marker-'));
      expect(markers).toEqual(Array.from({ length: MARKERS }, (_, i) => `hpcj-marker-${i}`));
      console.log(
        `A3 kernel: ${remote.length} owner ports on ${node} from another node, ${local.length} loopback ` +
          `and ${sockets.length} unix sockets from the node, ${forwards.length} agent forwards here: ` +
          `0 messages read; the owner got ${markers.length}/${MARKERS} markers`,
      );
    } finally {
      client.close();
      await agent.stopSession(session.id);
    }
  }, 600_000);
});

describe("a Jupyter server's kernel in a job", () => {
  it('has no TCP port but the server, and its sockets are closed to the second user', async () => {
    const { session, token } = await start('jupyter');
    const node = session.nodes?.[0] ?? '';
    const raw = session.connection?.raw ?? {};
    const serverPid = Number(raw['pid']);
    const access = await agent.access(session.id);
    const manager = new KernelManager({ serverSettings: serverSettingsFor(access.url, token) });
    try {
      await manager.ready;
      const kernel = await manager.startNew({ name: 'python3' });
      expect((await execute(kernel, 'print(6 * 7)')).stdout.trim()).toBe('42');

      const netns = `hpcj-${node}`;
      const listeners = listenersIn(netns).filter((l) => l.uid === owner);
      const jobInodes = socketInodesOfTree([parentOf(serverPid)]);
      const jobPorts = listeners.filter((l) => jobInodes.has(l.inode)).map((l) => l.port);
      expect(jobPorts).toEqual([Number(raw['port'])]);
      const environ = readFileSync(`/proc/${serverPid}/environ`, 'utf8').split('\0');
      const runtime = (environ.find((e) => e.startsWith('JUPYTER_RUNTIME_DIR=')) ?? '').slice(
        'JUPYTER_RUNTIME_DIR='.length,
      );
      const info = JSON.parse(
        readFileSync(`${runtime}/kernel-${kernel.id}.json`, 'utf8'),
      ) as Record<string, unknown>;
      expect(info['transport']).toBe('ipc');
      const sockets = ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'].map(
        (p) => `${String(info['ip'])}-${String(info[p])}`,
      );

      const { remote, local } = targetsOf(listeners, node);
      const cell = execute(kernel, MARKER_CELL);
      await new Promise((r) => setTimeout(r, 500));
      const [fromOtherNode, fromNode] = await Promise.all([
        attack({ tcp: remote }, `hpcj-${otherNode(node)}`),
        attack({ tcp: local, ipc: sockets }, netns),
      ]);
      const { stdout } = await cell;
      expect(fromOtherNode.messages).toBe(0);
      expect(fromNode.messages).toBe(0);
      expect(Object.values(fromNode.unix)).toEqual(sockets.map(() => 'Permission denied'));
      expect(stdout.split('\n').filter((l) => l.startsWith('hpcj-marker-'))).toHaveLength(MARKERS);
      console.log(
        `A3 Jupyter kernel: the job listens on ${jobPorts.length} TCP port (the server); ` +
          `${remote.length + local.length} owner ports and ${sockets.length} unix sockets: 0 messages read`,
      );
      await kernel.shutdown();
    } finally {
      manager.dispose();
      await agent.stopSession(session.id);
    }
  }, 600_000);
});
