/**
 * Issue 14's attacks on the kernel launcher's own five ports (findings 3 and 7, attack A6, and
 * the launcher's part of "malformed and oversized input"). A real launcher for a profile
 * kernelspec runs its kernel in a Slurm job on the test cluster, driven by its owner (root here,
 * as the agent in tests) through the test's Jupyter client. The second user, `hpcjother`,
 * subscribes to iopub while the owner's cell prints a marker, sends unsigned and wrongly signed
 * execute requests, and connects a DEALER with the owner's routing id; then, because a port that
 * refuses other uids leaves only the owner's own processes, the owner's uid tries the same and
 * the attacks on the bounds (a 2^62-byte frame, endless MORE frames, a subscriber that never
 * reads while a cell prints 50 MiB). Each is refused or dropped, the owner keeps being served,
 * and the launcher's memory is measured before and after.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectionInfo } from '../../packages/core/src/kernel/connection-info.js';
import {
  TestKernelClient,
  writeConnectionFile,
} from '../../packages/core/src/kernel/kernel-client.testutil.js';
import { JOB_PYTHON } from './engines-support.js';
import { OTHER_USER } from './second-user.js';
import { installTestKernelProfile, stopPrivateAgent, testCluster } from './support.js';

const PROFILE = 'e2e-second-user';
const SPEC = `hpcj-${PROFILE}`;
const MiB = 1024 * 1024;

let root: string;
let env: Record<string, string>;
let info: ConnectionInfo;
let launcher: ChildProcess;
let owner: TestKernelClient;
const launcherLog: string[] = [];

/**
 * The attacker's side, in Python with pyzmq as a second user would write it; the mode and the
 * ports come on stdin as JSON, the findings go to stdout as one JSON line.
 */
const ATTACK_PY = String.raw`
import hashlib, hmac, json, socket, sys, time, uuid
import zmq

a = json.loads(sys.stdin.readline())
host, ports, mode = a["host"], a["ports"], a["mode"]
ctx = zmq.Context()
out = {}

def message(key, code):
    header = json.dumps({"msg_id": uuid.uuid4().hex, "session": uuid.uuid4().hex, "username": "x",
        "date": "2026-01-01T00:00:00Z", "msg_type": "execute_request", "version": "5.3"}).encode()
    parts = [header, b"{}", b"{}", json.dumps({"code": code, "silent": False}).encode()]
    sig = b"" if key is None else hmac.new(key, b"".join(parts), hashlib.sha256).hexdigest().encode()
    return [b"<IDS|MSG>", sig] + parts

def drain(socks, seconds):
    poller = zmq.Poller()
    for s in socks:
        poller.register(s, zmq.POLLIN)
    n, deadline = 0, time.time() + seconds
    while time.time() < deadline:
        for s, _ in poller.poll(100):
            s.recv_multipart()
            n += 1
    return n

def raw_bytes(port):
    s = socket.create_connection((host, port), timeout=3)
    s.settimeout(2)
    got = b""
    try:
        while True:
            more = s.recv(4096)
            if not more:
                return {"bytes": len(got), "closed": True}
            got += more
    except socket.timeout:
        return {"bytes": len(got), "closed": False}
    except OSError as e:
        return {"bytes": len(got), "closed": True, "error": str(e)}

GREETING = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x01" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32

def command(name, data=b""):
    body = bytes([len(name)]) + name + data
    return bytes([0x04, len(body)]) + body

def ready(socket_type):
    prop = bytes([11]) + b"Socket-Type" + len(socket_type).to_bytes(4, "big") + socket_type
    return command(b"READY", prop)

def handshaken(port, socket_type, rcvbuf=None):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect((host, port))
    s.sendall(GREETING + ready(socket_type))
    got = b""
    s.settimeout(5)
    while b"READY" not in got:
        more = s.recv(4096)
        if not more:
            raise RuntimeError("closed in the handshake")
        got += more
    return s

def until_closed(s, seconds):
    s.settimeout(seconds)
    t0 = time.time()
    try:
        while s.recv(65536):
            pass
        return {"closed": True, "after": time.time() - t0}
    except socket.timeout:
        return {"closed": False}
    except OSError as e:
        return {"closed": True, "after": time.time() - t0, "error": str(e)}

if mode == "iopub":
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect("tcp://%s:%d" % (host, ports["iopub"]))
    print(json.dumps({"subscribed": True}), flush=True)
    out["messages"] = drain([sub], a["seconds"])
    out["raw"] = {name: raw_bytes(port) for name, port in ports.items()}
elif mode == "execute":
    shell = ctx.socket(zmq.DEALER)
    shell.connect("tcp://%s:%d" % (host, ports["shell"]))
    shell.send_multipart(message(None, "hpcj_attack = 1"))
    shell.send_multipart(message(b"not-the-key", "hpcj_attack = 2"))
    out["replies"] = drain([shell], 3)
elif mode == "identity":
    socks = []
    for channel in ("shell", "control"):
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.IDENTITY, a["identity"].encode())
        s.connect("tcp://%s:%d" % (host, ports[channel]))
        socks.append(s)
    print(json.dumps({"connected": True}), flush=True)
    out["messages"] = drain(socks, a["seconds"])
elif mode == "bigframe":
    s = handshaken(ports["shell"], b"DEALER")
    s.sendall(b"\x02" + (2 ** 62).to_bytes(8, "big"))
    out = until_closed(s, 5)
elif mode == "moreframes":
    s = handshaken(ports["shell"], b"DEALER")
    sent, t0 = 0, time.time()
    try:
        while time.time() - t0 < 10:
            s.sendall(b"\x01\x00" * 5000)
            sent += 5000
    except OSError as e:
        out["error"] = str(e)
    out.update({"frames_sent": sent, **until_closed(s, 5)})
elif mode == "stuck":
    s = handshaken(ports["iopub"], b"SUB", rcvbuf=4096)
    s.sendall(command(b"SUBSCRIBE"))
    print(json.dumps({"subscribed": True}), flush=True)
    sys.stdin.readline()  # until told to read at last
    total = 0
    s.settimeout(2)
    try:
        while True:
            more = s.recv(1 << 20)
            if not more:
                break
            total += len(more)
    except socket.timeout:
        pass
    out["bytes"] = total
print(json.dumps(out), flush=True)
`;

interface Attack {
  /** Lines the script printed before its findings (e.g. that it subscribed). */
  readonly early: Promise<void>;
  readonly result: Promise<Record<string, unknown>>;
  readonly child: ChildProcess;
}

/**
 * Runs ATTACK_PY as `user` (OTHER_USER, or the owner's uid: this process's) on this machine.
 * Spawned here rather than through second-user.ts's asOther: the test needs its early lines.
 */
function attack(user: 'other' | 'owner', params: Record<string, unknown>): Attack {
  const argv = [JOB_PYTHON, '-c', ATTACK_PY];
  const full = user === 'other' ? ['runuser', '-u', OTHER_USER, '--', ...argv] : argv;
  const child = spawn(full[0] as string, full.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout });
  const seen: Record<string, unknown>[] = [];
  let earlyDone: () => void = () => undefined;
  const early = new Promise<void>((resolve) => (earlyDone = resolve));
  const result = new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.on('line', (line) => {
      seen.push(JSON.parse(line) as Record<string, unknown>);
      earlyDone();
    });
    child.on('close', (code) => {
      const last = seen.at(-1);
      if (code !== 0 || last === undefined) reject(new Error(`attack failed (${code}): ${stderr}`));
      else resolve(last);
    });
  });
  child.stdin.write(`${JSON.stringify({ host: '127.0.0.1', ports: info.ports, ...params })}\n`);
  if (params['mode'] !== 'stuck') child.stdin.end();
  return { early, result, child };
}

/** The launcher's resident memory, from /proc. */
function rssMiB(): number {
  const status = readFileSync(`/proc/${String(launcher.pid)}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

/** The owner still gets answers from the kernel in the job. */
async function ownerStillServed(): Promise<void> {
  const marker = `still-${randomUUID()}`;
  const ran = await owner.execute(`print(${JSON.stringify(marker)})`, 60_000);
  expect(ran.reply.content['status']).toBe('ok');
  expect(ran.stdout).toBe(`${marker}\n`);
}

/** Whether the owner's kernel has a variable the attacks would have set. */
async function attackVariableSet(): Promise<string> {
  return (await owner.execute('print("hpcj_attack" in dir())', 60_000)).stdout.trim();
}

beforeAll(async () => {
  const cluster = await testCluster();
  const profile = await installTestKernelProfile(cluster.configFile, {
    prefix: 'hpcj-second-user-launcher-',
    profile: PROFILE,
    name: 'E2E second user',
    spec: SPEC,
  });
  ({ root, env } = profile);

  const file = join(root, `kernel-${randomUUID()}.json`);
  info = await writeConnectionFile(file, randomUUID());
  const [exe, ...args] = profile.argv.map((a) => (a === '{connection_file}' ? file : a));
  launcher = spawn(exe as string, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  createInterface({ input: launcher.stderr as NodeJS.ReadableStream }).on('line', (line) =>
    launcherLog.push(line),
  );
  owner = new TestKernelClient(info);
  await owner.waitReady(10_000);
  // The job is queued and started; the first cell runs once the kernel in it answers.
  const first = await owner.execute('import os; print(os.environ["SLURM_JOB_ID"])', 300_000);
  expect(first.reply.content['status']).toBe('ok');
}, 360_000);

afterAll(async () => {
  const said = launcherLog.filter((l) =>
    /refused|closed a connection|Invalid Message|not reading/.test(l),
  );
  console.log(`[second-user-launcher] what the launcher logged:\n${said.join('\n')}`);
  // Whatever beforeAll got to: the shutdown cancels the job, the agent stops what is left.
  const started = owner as TestKernelClient | undefined;
  if (started !== undefined) {
    await started.request('control', 'shutdown_request', { restart: false }, 20_000).catch(() => {
      (launcher as ChildProcess | undefined)?.kill('SIGKILL');
    });
    started.close();
  }
  if ((env as Record<string, string> | undefined) !== undefined) await stopPrivateAgent(env);
  if ((root as string | undefined) !== undefined) await rm(root, { recursive: true, force: true });
}, 120_000);

describe(`${OTHER_USER} against the launcher's ports on 127.0.0.1`, () => {
  it('reads 0 iopub messages while the owner prints a marker; every port closes at once', async () => {
    const spy = attack('other', { mode: 'iopub', seconds: 8 });
    await spy.early;
    const marker = `marker-${randomUUID()}`;
    const ran = await owner.execute(
      `import time\nfor i in range(5):\n    print(${JSON.stringify(marker)}, flush=True)\n    time.sleep(0.5)`,
      60_000,
    );
    expect(ran.stdout).toContain(marker);
    const found = await spy.result;
    console.log(`[second-user-launcher] ${OTHER_USER} on iopub: ${JSON.stringify(found)}`);
    expect(found['messages']).toBe(0);
    // Closed before the ZMTP greeting: not one byte, on any of the five ports.
    for (const port of Object.values(found['raw'] as Record<string, unknown>)) {
      expect(port).toMatchObject({ bytes: 0, closed: true });
    }
    expect(launcherLog.some((l) => /refused a connection from uid \d+ \(only uid 0/.test(l))).toBe(
      true,
    );
  }, 120_000);

  it("gets no reply to unsigned or wrongly signed execute requests, and they don't run", async () => {
    const found = await attack('other', { mode: 'execute' }).result;
    expect(found['replies']).toBe(0);
    expect(await attackVariableSet()).toBe('False');
  }, 120_000);

  it("A6: a DEALER with the owner's routing id gets none of the owner's replies", async () => {
    const thief = attack('other', { mode: 'identity', identity: owner.routingId, seconds: 6 });
    await thief.early;
    await sleep(500);
    for (let i = 0; i < 3; i++) await ownerStillServed();
    expect((await thief.result)['messages']).toBe(0);
  }, 120_000);
});

describe("the owner's own uid (what is left once other uids are refused)", () => {
  it('unsigned and wrongly signed execute requests are dropped with "Invalid Message"', async () => {
    const found = await attack('owner', { mode: 'execute' }).result;
    expect(found['replies']).toBe(0);
    expect(await attackVariableSet()).toBe('False');
    expect(launcherLog.some((l) => l.includes('Invalid Message on shell'))).toBe(true);
  }, 120_000);

  it("A6: a second DEALER with the owner's routing id is refused while the owner is connected", async () => {
    const thief = attack('owner', { mode: 'identity', identity: owner.routingId, seconds: 6 });
    await thief.early;
    await sleep(500);
    for (let i = 0; i < 3; i++) await ownerStillServed();
    expect((await thief.result)['messages']).toBe(0);
    expect(
      launcherLog.some((l) =>
        l.includes(`the routing id "${owner.routingId}" belongs to a connected peer`),
      ),
    ).toBe(true);
  }, 120_000);

  it('a 2^62-byte frame header and endless MORE frames get a closed connection; memory stays', async () => {
    const before = rssMiB();
    const big = await attack('owner', { mode: 'bigframe' }).result;
    expect(big).toMatchObject({ closed: true });
    expect(big['after']).toBeLessThan(2);
    await ownerStillServed();
    const more = await attack('owner', { mode: 'moreframes' }).result;
    expect(more).toMatchObject({ closed: true });
    await ownerStillServed();
    const after = rssMiB();
    console.log(
      `[second-user-launcher] 2^62 frame: ${JSON.stringify(big)}; MORE frames: ` +
        `${JSON.stringify(more)}; launcher VmRSS ${before} MiB before, ${after} MiB after`,
    );
    expect(launcherLog.some((l) => l.includes('-byte frame (a message may have at most'))).toBe(
      true,
    );
    expect(launcherLog.some((l) => l.includes('a message of more than 10000 frames'))).toBe(true);
    expect(after - before).toBeLessThan(64);
  }, 120_000);

  it('a subscriber that never reads while a cell prints 50 MiB is dropped, not held', async () => {
    const before = rssMiB();
    const stuck = attack('owner', { mode: 'stuck' });
    await stuck.early;
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMiB());
    }, 100);
    try {
      const ran = await owner.execute(
        'import sys\nchunk = "x" * (1 << 20)\nfor i in range(50):\n' +
          '    sys.stdout.write(chunk)\n    sys.stdout.flush()\nprint("done")',
        180_000,
      );
      expect(ran.reply.content['status']).toBe('ok');
      // The owner, who reads, got every byte.
      expect(ran.stdout.length).toBe(50 * MiB + 'done\n'.length);
      stuck.child.stdin?.end('read\n');
      await ownerStillServed();
    } finally {
      clearInterval(sampler);
    }
    const found = await stuck.result;
    await sleep(2000);
    const after = rssMiB();
    console.log(
      `[second-user-launcher] stuck subscriber read ${String(found['bytes'])} of ${50 * MiB} bytes ` +
        `afterwards; launcher VmRSS ${before} MiB before, ${peak} MiB at most, ${after} MiB after`,
    );
    expect(found['bytes']).toBeLessThan(50 * MiB);
    expect(launcherLog.some((l) => l.includes('a peer is not reading'))).toBe(true);
    expect(peak - before).toBeLessThan(200);
  }, 300_000);
});
