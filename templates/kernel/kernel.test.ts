// The rendered `kernel` job, run for real with bash as the local scheduler would: the kernel
// comes up with the agent's HMAC key, connection.json names its five ports (and not the key), a
// client gets a kernel_info reply, and SIGTERM to the job ends the kernel.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
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

const PORTS = ['shell_port', 'iopub_port', 'stdin_port', 'control_port', 'hb_port'] as const;

// Reads connection.json plus the key (as the agent would) and asks the kernel for kernel_info.
const KERNEL_INFO_PY = `
import json, sys
from jupyter_client import BlockingKernelClient
info = json.load(open(sys.argv[1]))
info["key"] = open(sys.argv[2]).read().strip()
keys = ("ip", "transport", "signature_scheme", "key") + tuple(k for k in info if k.endswith("_port"))
client = BlockingKernelClient()
client.load_connection_info({k: info[k] for k in keys})
client.start_channels()
try:
    client.wait_for_ready(timeout=20)
    reply = client.kernel_info(reply=True, timeout=10)
    print(json.dumps({"status": reply["content"]["status"],
                      "implementation": reply["content"]["implementation"]}))
finally:
    client.stop_channels()
`;

// Asks the kernel to shut down for a restart, as jupyter_client's restart does.
const RESTART_PY = `
import json, sys
from jupyter_client import BlockingKernelClient
info = json.load(open(sys.argv[1]))
info["key"] = open(sys.argv[2]).read().strip()
keys = ("ip", "transport", "signature_scheme", "key") + tuple(k for k in info if k.endswith("_port"))
client = BlockingKernelClient()
client.load_connection_info({k: info[k] for k in keys})
client.start_channels()
client.wait_for_ready(timeout=20)
msg = client.session.msg("shutdown_request", {"restart": True})
client.control_channel.send(msg)
reply = client.control_channel.get_msg(timeout=10)
assert reply["content"]["restart"] is True, reply
client.stop_channels()
`;

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
  it('starts a kernel that answers kernel_info and stops on SIGTERM', async () => {
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
    });
    const ports = PORTS.map((p) => conn[p]);
    expect(ports.every((p) => typeof p === 'number' && p > 0)).toBe(true);
    expect(new Set(ports).size).toBe(5);
    expect(descendants(job.pid)).toContain(conn['pid']);

    // The kernel's own connection file holds the key, privately.
    const kernelFile = path.join(session.dir, 'runtime', 'kernel.json');
    expect(statSync(kernelFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(kernelFile, 'utf8'))).toMatchObject({
      key,
      shell_port: conn['shell_port'],
    });

    const reply = execFileSync(VENV_PYTHON, ['-c', KERNEL_INFO_PY, file, keyFile], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(JSON.parse(reply)).toEqual({ status: 'ok', implementation: 'ipython' });

    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(key);
    expect(jobLog(session)).not.toContain(key);

    seen = descendants(job.pid);
    const result = await stopJob(job);
    expect(result.code).toBe(143);
    expect(await waitGone(seen)).toEqual([]);
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
    execFileSync(VENV_PYTHON, ['-c', RESTART_PY, file, keyFile], { timeout: 30_000 });
    const deadline = Date.now() + 20_000;
    let after = before;
    while (after['restarts'] !== 1) {
      if (Date.now() > deadline) throw new Error(`no restart: ${jobLog(session)}`);
      await new Promise((r) => setTimeout(r, 100));
      after = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    }
    expect(after['pid']).not.toBe(before['pid']);
    for (const port of PORTS) expect(after[port]).toBe(before[port]);
    const reply = execFileSync(VENV_PYTHON, ['-c', KERNEL_INFO_PY, file, keyFile], {
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
