/**
 * A3 for ipyparallel: another user cannot read a byte of an ipyparallel session. On the 4-node
 * test cluster the owner's client runs code on the four engines that prints a marker in a loop;
 * meanwhile `hpcjother` subscribes (zmq SUB, every topic) to every port the controller's job
 * listens on (connection.json's endpoints and every socket of the owner's on the controller's
 * node, from /proc/net/tcp), from another node and from the controller's node itself, with no
 * CURVE key and with a guessed one, and sends unsigned registration requests (DEALER, REQ); and
 * does the same, on this machine, to the agent's loopback forwards of the controller. Every
 * attempt reads 0 messages and gets no reply, and every controller port greets with CURVE.
 * The same script run by the owner with the controller's CURVE key (the control) does read the
 * marker, on the node and through the forward, so the attack would see it were CURVE not there.
 * The owner's own clients (the kernel start-up code in the job, and hpc_jupyter.client through
 * the agent) keep working: 4 engines, the marker seen.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_PYTHON, lastJson, pythonInJob, startEngine, stopEngine } from './engines-support.js';
import type { EngineSession, Ran } from './engines-support.js';
import {
  asOther,
  asRoot,
  listenersIn,
  probeAsOther,
  refused,
  socketInodesOfTree,
  uidOf,
} from './second-user.js';
import { cli, privateAgentEnv, stopPrivateAgent, testCluster } from './support.js';

const MARKER = `hpcj-marker-${randomBytes(6).toString('hex')}`;
const LOOP_SECONDS = 45;

// The owner, in the job (a step on the first node): `rc` from the kernel start-up code, a loop
// on every engine that prints MARKER, a file saying the marker reached this client.
const OWNER_PY = `
import json, os, sys, time
from hpc_jupyter.startup import *
marker, started, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
def loop(marker, seconds):
    import time
    end, i = time.time() + seconds, 0
    while time.time() < end:
        print(marker, i, flush=True)
        i += 1
        time.sleep(0.2)
    return i
ar = rc[:].apply_async(loop, marker, seconds)
deadline = time.time() + 60
while not any(marker in out for out in ar.stdout) and time.time() < deadline:
    time.sleep(0.1)
open(started, "w").close()
ar.get(timeout=seconds + 60)
ar.wait_for_output(10)
print(json.dumps({"engines": len(rc.ids), "lines": sum(out.count(marker) for out in ar.stdout)}))
`;

// The attack (and, given the controller's CURVE key, the owner's control): SUB to every target
// (without a key and with a guessed one, or with the given key), unsigned registration requests
// to the controller's port; then counts what arrives for SECONDS. Input on stdin, no key in argv.
const SUBSCRIBE_PY = `
import json, sys, time, uuid
import zmq
cfg = json.load(sys.stdin)
ctx = zmq.Context()
keys = [cfg["serverkey"]] if cfg.get("serverkey") else [None, zmq.curve_keypair()[0].decode()]
def socket(kind, key):
    s = ctx.socket(kind)
    s.linger = 0
    if key:
        s.curve_serverkey = key.encode()
        s.curve_publickey, s.curve_secretkey = zmq.curve_keypair()
    return s
subs, asks = [], []
for t in cfg["targets"]:
    url = "tcp://%s:%d" % (t["host"], t["port"])
    for key in keys:
        s = socket(zmq.SUB, key)
        s.setsockopt(zmq.SUBSCRIBE, b"")
        s.connect(url)
        subs.append(s)
        if t.get("name") != "controller":
            continue
        for kind in (zmq.DEALER, zmq.REQ):
            a = socket(kind, key)
            a.connect(url)
            header = {"msg_id": str(uuid.uuid4()), "msg_type": "registration_request",
                      "session": str(uuid.uuid4()), "username": "hpcjother", "version": "5.3",
                      "date": "2026-01-01T00:00:00Z"}
            frames = [b"<IDS|MSG>", b"", json.dumps(header).encode(), b"{}", b"{}",
                      json.dumps({"uuid": str(uuid.uuid4()), "id": None}).encode()]
            try:
                a.send_multipart(frames, zmq.NOBLOCK)
            except zmq.Again:
                pass
            asks.append(a)
poller = zmq.Poller()
for s in subs + asks:
    poller.register(s, zmq.POLLIN)
messages = replies = 0
marker = False
end = time.time() + cfg["seconds"]
while time.time() < end:
    for s, _ in poller.poll(100):
        frames = s.recv_multipart()
        if s in asks:
            replies += 1
        else:
            messages += 1
        marker = marker or any(cfg["marker"].encode() in f for f in frames)
print(json.dumps({"sockets": len(subs) + len(asks), "messages": messages, "replies": replies,
                  "marker": marker}))
`;

interface Heard {
  readonly sockets: number;
  readonly messages: number;
  readonly replies: number;
  readonly marker: boolean;
}
interface Target {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

let env: Record<string, string>;
let session: EngineSession | undefined;
let owner: Promise<Ran> | undefined;

function ran(r: Ran): Heard {
  expect(r.code, r.stderr).toBe(0);
  return lastJson(r) as Heard;
}

/** Runs SUBSCRIBE_PY as `user` (in `netns`, else on this machine), the config on stdin. */
async function subscribe(
  user: string,
  targets: readonly Target[],
  netns?: string,
  serverkey?: string,
): Promise<Heard> {
  const input = JSON.stringify({ targets, serverkey, seconds: 5, marker: MARKER });
  const argv = [JOB_PYTHON, '-c', SUBSCRIBE_PY];
  if (user === 'root') return ran(await asRoot(argv, netns, input));
  return ran(await asOther(argv, { user, input, ...(netns === undefined ? {} : { netns }) }));
}

/** The processes of a Slurm job (the nodes share this machine's process table): by SLURM_JOB_ID
 * in their environment, which only root can read. */
function jobPids(jobId: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (
        readFileSync(`/proc/${entry}/environ`, 'latin1')
          .split('\0')
          .includes(`SLURM_JOB_ID=${jobId}`)
      ) {
        pids.push(Number(entry));
      }
    } catch {
      // Ended, or a kernel thread.
    }
  }
  return pids;
}

/** Runs the venv's Python on this machine with the private agent's environment (the owner). */
function localPython(script: string, args: readonly string[]): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(JOB_PYTHON, ['-', ...args], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(script);
  });
}

// The owner through the agent's forwards: hpc_jupyter.client.ipyparallel, 4 engines, a print.
const OWNER_LOCAL_PY = `
import json, sys
from hpc_jupyter.client import ipyparallel
rc = ipyparallel(sys.argv[1], timeout=30)
rc.wait_for_engines(4, timeout=60)
ar = rc[:].apply_async(print, sys.argv[2])
ar.get(timeout=30)
ar.wait_for_output(10)
print(json.dumps({"engines": len(rc.ids), "marker": all(sys.argv[2] in o for o in ar.stdout)}))
`;

beforeAll(async () => {
  const cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
});

afterAll(async () => {
  if (session !== undefined) await cli(['stop', session.id], env);
  await owner?.catch(() => undefined);
  await stopPrivateAgent(env);
});

describe('an ipyparallel session refuses the second user (A3)', () => {
  let localFile = '';
  let clientFile: Record<string, unknown> = {};

  // The time limit covers a wait in the queue behind other tests' jobs (startEngine allows 300 s).
  it(
    'starts on four nodes with CURVE on, and the owner attaches through the agent',
    { timeout: 330_000 },
    async () => {
      session = await startEngine(env, 'ipyparallel', ['--nodes', '4']);
      expect(session.connection).toMatchObject({ kind: 'ipyparallel', engines: 4 });
      const file = `${session.sessionDir}/ipyparallel/security/ipcontroller-client.json`;
      clientFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      expect(clientFile['curve_serverkey']).toMatch(/^.{40}$/);
      const attached = await cli(['connect', session.id, '--json'], env);
      expect(attached.code, attached.stderr).toBe(0);
      localFile =
        (JSON.parse(attached.stdout) as { ipyparallel?: { connectionFile?: string } }).ipyparallel
          ?.connectionFile ?? '';
      expect(localFile).not.toBe('');
    },
  );

  it('while the owner prints a marker on every engine, hpcjother reads 0 messages', async () => {
    const s = session;
    if (s === undefined) throw new Error('no session');
    const started = `${s.sessionDir}/.marker-loop-started`;
    owner = pythonInJob(s, OWNER_PY, [MARKER, started, String(LOOP_SECONDS)]);
    const deadline = Date.now() + 90_000;
    while (!existsSync(started)) {
      if (Date.now() > deadline) throw new Error(`the owner's loop did not start: ${started}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    // Every port of the controller's job: the published endpoints and every socket the owner
    // listens on at the controller's node (the engine-facing ports too).
    const head = s.nodes[0] ?? 'node1';
    const headNs = `hpcj-${head}`;
    const otherNs = head === 'node3' ? 'hpcj-node2' : 'hpcj-node3';
    const headAddress = String(s.connection['host']);
    const uid = uidOf('hpcjtest');
    const mine = socketInodesOfTree(jobPids(s.jobId));
    const owned = (await listenersIn(headNs)).filter((l) => l.uid === uid && mine.has(l.inode));
    expect(owned.length).toBeGreaterThan(s.endpoints.length);
    const remote: Target[] = [...s.endpoints];
    const loopback: Target[] = [];
    for (const l of owned) {
      if (l.address.startsWith('127.') || l.address === '::1') {
        loopback.push({ name: 'loopback', host: '127.0.0.1', port: l.port });
      } else if (!remote.some((t) => t.port === l.port)) {
        remote.push({ name: 'listener', host: headAddress, port: l.port });
      }
    }
    expect(s.endpoints.length).toBe(7);
    const local = JSON.parse(readFileSync(localFile, 'utf8')) as Record<string, unknown>;
    const forwards: Target[] = s.endpoints.map((e) => {
      const channel = e.name === 'controller' ? 'registration' : e.name.slice('ipp-'.length);
      return { name: e.name, host: '127.0.0.1', port: Number(local[channel]) };
    });
    const key = String(clientFile['curve_serverkey']);

    const [fromNode, onHead, throughForward, control, controlForward] = await Promise.all([
      subscribe('hpcjother', remote, otherNs),
      subscribe('hpcjother', loopback, headNs),
      subscribe('hpcjother', forwards),
      subscribe('hpcjtest', remote, otherNs, key),
      subscribe('root', forwards, undefined, key),
    ]);
    console.log(
      `A3 ipyparallel: ${remote.length} ports from ${otherNs}, ${loopback.length} loopback ports ` +
        `on ${headNs}, ${forwards.length} agent forwards: attack ${JSON.stringify({ fromNode, onHead, throughForward })}; ` +
        `control with the key ${JSON.stringify({ control, controlForward })}`,
    );
    // The attack: sockets opened, nothing read, no reply to a registration.
    expect(fromNode.sockets).toBeGreaterThanOrEqual(2 * remote.length);
    expect(fromNode).toMatchObject({ messages: 0, replies: 0, marker: false });
    expect(onHead).toMatchObject({ messages: 0, replies: 0, marker: false });
    expect(throughForward.sockets).toBe(2 * 7 + 4);
    expect(throughForward).toMatchObject({ messages: 0, replies: 0, marker: false });
    // The control, with the key only the owner's 0600 files hold: the same script reads it.
    expect(control.marker).toBe(true);
    expect(controlForward.marker).toBe(true);

    // And every controller port greets with CURVE, never NULL; a forward either refuses the
    // second user outright (the agent's uid check) or hands it to the same CURVE handshake.
    const probes = await probeAsOther(s.endpoints, otherNs);
    expect(probes.map((p) => p.verdict)).toEqual(s.endpoints.map(() => 'zmtp-curve'));
    const forwarded = await probeAsOther(forwards);
    console.log(`A3 ipyparallel forwards: ${forwarded.map((p) => p.verdict).join(' ')}`);
    expect(forwarded.filter((p) => !refused(p.verdict))).toEqual([]);

    const result = lastJson(await owner) as { engines: number; lines: number };
    expect(result.engines).toBe(4);
    expect(result.lines).toBeGreaterThan(4 * 10);
  });

  it("the owner's client through the agent still runs on all 4 engines", async () => {
    const s = session;
    if (s === undefined) throw new Error('no session');
    const out = lastJson(await localPython(OWNER_LOCAL_PY, [s.id, MARKER])) as {
      engines: number;
      marker: boolean;
    };
    expect(out).toEqual({ engines: 4, marker: true });
  });

  it('stops, and the job leaves squeue', async () => {
    const s = session;
    if (s === undefined) throw new Error('no session');
    await stopEngine(env, s);
    session = undefined;
  });
});
