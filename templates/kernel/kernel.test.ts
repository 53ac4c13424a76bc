// The rendered `kernel` job, run for real with bash as the local scheduler would: the kernel
// comes up with the agent's HMAC key on unix sockets in a private directory, behind the TLS
// relay whose five ports connection.json names (and not the key); a client with the session's
// certificate gets a kernel_info reply through the relay, one without gets nothing, and SIGTERM
// to the job ends the kernel and the relay and removes the sockets' directory.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  VENV_PYTHON,
  cleanup,
  descendants,
  jobLog,
  prepareSession,
  requireVenv,
  startJob,
  stopJob,
  waitForFile,
  waitGone,
  type RunningJob,
  type Session,
} from '../runtime/job-harness.js';
import { RELAY_CLIENT_PY } from './relay-client.testutil.js';

const PORTS = ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const;

// Reads connection.json plus the key (as the agent would) and asks the kernel for kernel_info.
const KERNEL_INFO_PY = `${RELAY_CLIENT_PY}
import sys
client = relay_client(sys.argv[1], sys.argv[2], sys.argv[3])
try:
    client.wait_for_ready(timeout=20)
    reply = client.kernel_info(reply=True, timeout=10)
    print(json.dumps({"status": reply["content"]["status"],
                      "implementation": reply["content"]["implementation"]}))
finally:
    client.stop_channels()
`;

// Asks the kernel to shut down for a restart, as jupyter_client's restart does.
const RESTART_PY = `${RELAY_CLIENT_PY}
import sys
client = relay_client(sys.argv[1], sys.argv[2], sys.argv[3])
client.wait_for_ready(timeout=20)
msg = client.session.msg("shutdown_request", {"restart": True})
client.control_channel.send(msg)
reply = client.control_channel.get_msg(timeout=10)
assert reply["content"]["restart"] is True, reply
client.stop_channels()
`;

// What someone without the session's certificate gets from each relay port: plain ZMTP, TLS
// without a client certificate, and TLS with a certificate of another CA. Prints one verdict
// per attempt: "refused" or what was read.
const INTRUDER_PY = String.raw`
import json, os, socket, ssl, sys, tempfile
from hpc_jupyter.tls import make_tls_files
info = json.load(open(sys.argv[1]))
other = tempfile.mkdtemp()
make_tls_files(other + "/tls", names=["127.0.0.1"])
greeting = b"\xff" + b"\x00" * 8 + b"\x7f\x03\x01" + b"NULL".ljust(20, b"\x00") + b"\x00" * 32
def attempt(port, ctx):
    try:
        s = socket.create_connection((info["ip"], port), timeout=5)
        if ctx is not None:
            s = ctx.wrap_socket(s, server_hostname=info["tls"]["server_name"])
        s.sendall(greeting)
        s.settimeout(2)
        data = s.recv(64)
        # TLS 1.3: a refused client certificate shows on the first read after the handshake.
        return "refused" if not data else repr(data[:16])
    except (OSError, ssl.SSLError):
        return "refused"
out = []
for name in ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port"):
    port = info[name]
    no_cert = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    no_cert.check_hostname = False
    no_cert.verify_mode = ssl.CERT_NONE
    foreign = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    foreign.check_hostname = False
    foreign.verify_mode = ssl.CERT_NONE
    foreign.load_cert_chain(other + "/tls/cert.pem", other + "/tls/key.pem")
    out += [attempt(port, None), attempt(port, no_cert), attempt(port, foreign)]
print(json.dumps(out))
`;

/** Ports on which the process listens over TCP (from its socket inodes and /proc/net/tcp*). */
function tcpListenersOf(pid: number): number[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1] !== undefined) inodes.add(m[1]);
    } catch {
      // Closed while we looked.
    }
  }
  const ports: number[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[3] === '0A' && f[9] !== undefined && inodes.has(f[9])) {
        ports.push(parseInt((f[1] ?? '').split(':')[1] ?? '0', 16));
      }
    }
  }
  return ports;
}

let session: Session | undefined;
let job: RunningJob | undefined;
let seen: number[] = [];

beforeAll(() => {
  requireVenv();
});
afterEach(() => {
  cleanup(session, job, seen);
  session = undefined;
  job = undefined;
  seen = [];
});

describe('the kernel template, run locally', () => {
  it('starts a kernel reached only through its TLS relay, and stops on SIGTERM', async () => {
    const key = randomBytes(32).toString('hex');
    session = await prepareSession('kernel', { workingDirectory: '/tmp' });
    const keyFile = path.join(session.dir, 'kernel-key');
    writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
    job = startJob(session);

    const file = await waitForFile(session, job, 'connection.json', 20_000);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain(key);
    const conn = JSON.parse(text) as Record<string, unknown>;
    expect(conn).toMatchObject({
      kind: 'kernel',
      ip: '127.0.0.1',
      transport: 'tcp',
      signature_scheme: 'hmac-sha256',
      tls: {
        ca: 'kernel-tls/ca.pem',
        cert: 'kernel-tls/cert.pem',
        key: 'kernel-tls/key.pem',
      },
    });
    const ports = PORTS.map((p) => conn[p]);
    expect(ports.every((p) => typeof p === 'number' && p > 0)).toBe(true);
    expect(new Set(ports).size).toBe(5);
    expect(descendants(job.pid)).toContain(conn['pid']);
    expect(descendants(job.pid)).toContain(conn['relay_pid']);
    for (const f of ['ca.pem', 'cert.pem', 'key.pem']) {
      expect(statSync(path.join(session.dir, 'kernel-tls', f)).mode & 0o777).toBe(0o600);
    }

    // The kernel's own connection file holds the key, privately, and names unix sockets in a
    // private directory with a path short enough for a socket.
    const kernelFile = path.join(session.dir, 'runtime', 'kernel.json');
    expect(statSync(kernelFile).mode & 0o777).toBe(0o600);
    const kernel = JSON.parse(readFileSync(kernelFile, 'utf8')) as Record<string, unknown>;
    expect(kernel).toMatchObject({ key, transport: 'ipc', shell_port: 1, hb_port: 5 });
    const prefix = String(kernel['ip']);
    const ipcDir = path.dirname(prefix);
    expect(statSync(ipcDir).mode & 0o777).toBe(0o700);
    expect(`${prefix}-5`.length).toBeLessThan(100);
    for (let i = 1; i <= 5; i++) expect(statSync(`${prefix}-${i}`).isSocket()).toBe(true);
    // No TCP port of the kernel process: everything it binds is a unix socket.
    expect(tcpListenersOf(Number(conn['pid']))).toEqual([]);

    const reply = execFileSync(VENV_PYTHON, ['-c', KERNEL_INFO_PY, file, keyFile, session.dir], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(JSON.parse(reply)).toEqual({ status: 'ok', implementation: 'ipython' });
    // Without the session's certificate: 15 attempts (3 per port), none gets a byte.
    const intruder = execFileSync(VENV_PYTHON, ['-c', INTRUDER_PY, file], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(JSON.parse(intruder)).toEqual(new Array(15).fill('refused'));

    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(key);
    expect(jobLog(session)).not.toContain(key);

    seen = descendants(job.pid);
    const result = await stopJob(job);
    expect(result.code).toBe(143);
    expect(await waitGone(seen)).toEqual([]);
    expect(existsSync(ipcDir)).toBe(false);
  });

  it('starts the kernel again on the same ports when it exits (a restart keeps the job)', async () => {
    const key = randomBytes(32).toString('hex');
    session = await prepareSession('kernel', { workingDirectory: '/tmp' });
    const keyFile = path.join(session.dir, 'kernel-key');
    writeFileSync(keyFile, key, { mode: 0o600 });
    job = startJob(session);
    const file = await waitForFile(session, job, 'connection.json', 20_000);
    const before = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(before['restarts']).toBe(0);

    // What a notebook's restart does to the kernel in the job: shutdown_request with restart.
    execFileSync(VENV_PYTHON, ['-c', RESTART_PY, file, keyFile, session.dir], {
      timeout: 30_000,
    });
    const deadline = Date.now() + 20_000;
    let after = before;
    while (after['restarts'] !== 1) {
      if (Date.now() > deadline) throw new Error(`no restart: ${jobLog(session)}`);
      await new Promise((r) => setTimeout(r, 100));
      after = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    }
    expect(after['pid']).not.toBe(before['pid']);
    for (const port of PORTS) expect(after[port]).toBe(before[port]);
    expect(after['relay_pid']).toBe(before['relay_pid']);
    const reply = execFileSync(VENV_PYTHON, ['-c', KERNEL_INFO_PY, file, keyFile, session.dir], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(JSON.parse(reply)).toEqual({ status: 'ok', implementation: 'ipython' });
    expect(jobLog(session)).toMatch(
      /the kernel exited with status 0; starting it again \(restart 1\)/,
    );
    seen = descendants(job.pid);
    expect((await stopJob(job)).code).toBe(143);
  });

  it('fails with a message when the working directory does not exist', async () => {
    session = await prepareSession('kernel', { workingDirectory: '/nonexistent/hpcj' });
    writeFileSync(path.join(session.dir, 'kernel-key'), 'k', { mode: 0o600 });
    job = startJob(session);
    expect((await job.exited).code).toBe(1);
    expect(jobLog(session)).toMatch(/working directory \/nonexistent\/hpcj does not exist/);
  });
});
