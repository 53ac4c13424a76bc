/**
 * The remote kernel end to end on the Slurm test cluster: a profile installed as a kernelspec
 * with the CLI (found by the real `jupyter kernelspec list`), started the way VS Code starts
 * kernels (its argv with a connection file) and by jupyter_client's KernelManager, while a
 * blocking 4-node job keeps ours in the queue; interrupt, restart in the same job, shutdown, and
 * a launcher killed with SIGKILL. Everything goes through a private agent over SSH.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import {
  listens,
  TestKernelClient,
  writeConnectionFile,
} from '../../packages/core/src/kernel/kernel-client.testutil.js';
import type { SessionRecord } from '../../packages/core/src/sessions/types.js';
import { cli, clusterScript, installTestKernelProfile, testCluster } from './support.js';

const VENV = process.env['HPC_JUPYTER_VENV'] ?? '/opt/hpc-jupyter/venv';
const execFileP = promisify(execFile);
const PROFILE = 'e2e-kernel';
const SPEC = `hpcj-${PROFILE}`;

let root: string;
let env: Record<string, string>;
let agent: AgentClient;
let argv: string[];
const children: ChildProcess[] = [];

beforeAll(async () => {
  const cluster = await testCluster();
  ({ root, env, argv } = await installTestKernelProfile(cluster.configFile, {
    prefix: 'hpcj-remote-kernel-',
    profile: PROFILE,
    name: 'E2E remote Python',
    spec: SPEC,
  }));
  agent = new AgentClient(agentSocketPath(env));
});

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  // Whatever a failed test left running is cancelled; then the private agent goes.
  const sessions = await agent.sessions().catch(() => [] as SessionRecord[]);
  for (const s of sessions) {
    if (!['completed', 'failed', 'cancelled', 'timed-out'].includes(s.state)) {
      await agent.stopSession(s.id).catch(() => undefined);
    }
  }
  await cli(['agent', 'stop'], env);
  await rm(root, { recursive: true, force: true });
});

/** Job ids in squeue's default view (pending, running, completing): an ended job is not there. */
async function squeue(jobId: string): Promise<string> {
  return (
    await clusterScript('slurm', 'squeue', '--noheader', `--jobs=${jobId}`).catch(() => '')
  ).trim();
}

async function gone(jobId: string, withinMs: number): Promise<number> {
  const started = Date.now();
  while ((await squeue(jobId)) !== '') {
    if (Date.now() - started > withinMs)
      throw new Error(`job ${jobId} still in squeue after ${withinMs} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
  return Date.now() - started;
}

function launch(connectionFile: string): ChildProcess {
  const [exe, ...args] = argv.map((a) => (a === '{connection_file}' ? connectionFile : a));
  const child = spawn(exe as string, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return child;
}

async function knownSessions(): Promise<Set<string>> {
  return new Set((await agent.sessions().catch(() => [])).map((s) => s.id));
}

/** The first session of our profile that matches and is not one of `known`. */
async function sessionOfProfile(
  predicate: (s: SessionRecord) => boolean,
  known: ReadonlySet<string> = new Set(),
  timeoutMs = 60_000,
): Promise<SessionRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await agent.sessions().catch(() => [])).find(
      (s) => s.profile === PROFILE && !known.has(s.id) && predicate(s),
    );
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error('no such session of the profile');
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe('a profile installed as a kernelspec', () => {
  it('is found by jupyter kernelspec list, with an absolute argv and message interrupts', async () => {
    const { stdout } = await execFileP(
      join(VENV, 'bin', 'jupyter'),
      ['kernelspec', 'list', '--json'],
      {
        env: { ...process.env, ...env },
      },
    );
    const specs = (
      JSON.parse(stdout) as { kernelspecs: Record<string, { spec: Record<string, unknown> }> }
    ).kernelspecs;
    const spec = specs[SPEC]?.spec;
    expect(spec).toMatchObject({
      display_name: 'E2E remote Python',
      language: 'python',
      interrupt_mode: 'message',
      metadata: { hpc_jupyter: { profile: PROFILE, cluster: 'testlab', template: 'kernel' } },
    });
    expect(argv[0]).toMatch(/^\//);
    expect(argv.slice(2)).toEqual(['kernel', '--profile', PROFILE, '-f', '{connection_file}']);
    expect(readFileSync(env['HPC_JUPYTER_CONFIG'] as string, 'utf8')).toContain(
      'displayName: E2E remote Python',
    );
  });
});

describe('started the way VS Code starts kernels', () => {
  it('listens on shell and iopub within 2 s, answers kernel_info, and a shutdown cancels the job', async () => {
    const file = join(root, `kernel-${randomUUID()}.json`);
    const info = await writeConnectionFile(file, randomUUID());
    const known = await knownSessions();
    const started = Date.now();
    const child = launch(file);
    while (!((await listens(info.ports.shell)) && (await listens(info.ports.iopub)))) {
      expect(Date.now() - started).toBeLessThan(2000);
      await new Promise((r) => setTimeout(r, 20));
    }
    const listening = Date.now() - started;
    const client = new TestKernelClient(info);
    try {
      const reply = await client.waitReady(5000);
      expect(reply.content['status']).toBe('ok');
      expect(reply.signatureOk).toBe(true);
      console.log(
        `[remote-kernel] ports listening after ${listening} ms, kernel_info after ${Date.now() - started} ms`,
      );
      const session = await sessionOfProfile((s) => s.jobId !== undefined, known);
      const exited = new Promise<number | null>((r) => child.once('exit', r));
      const bye = await client.request('control', 'shutdown_request', { restart: false }, 20_000);
      expect(bye.content).toMatchObject({ status: 'ok', restart: false });
      expect(await exited).toBe(0);
      await gone(session.jobId as string, 10_000);
    } finally {
      client.close();
    }
  });
});

/** jupyter_client's KernelManager, step by step; each step prints one JSON line. */
const KERNEL_MANAGER_PY = String.raw`
import json, os, sys, time
from jupyter_client import KernelManager

def say(**kw):
    print(json.dumps(kw), flush=True)

def shell_reply(kc, msg_id, timeout):
    deadline = time.time() + timeout
    while True:
        msg = kc.get_shell_msg(timeout=max(0.1, deadline - time.time()))
        if msg["parent_header"].get("msg_id") == msg_id:
            return msg

def run(kc, code, timeout=300, on_output=None):
    msg_id = kc.execute(code)
    out = ""
    while True:
        msg = kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if on_output:
            on_output(msg)
        if msg["msg_type"] == "stream":
            out += msg["content"]["text"]
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    return out, shell_reply(kc, msg_id, 30)

km = KernelManager(kernel_name=sys.argv[1])
t0 = time.time()
km.start_kernel()
kc = km.client()
kc.start_channels()
kc.wait_for_ready(timeout=60)
say(step="ready", seconds=time.time() - t0)

seen = []
def waiting(msg):
    # The first poll after the submit brings the queue reason: report the message once it has it.
    if msg["msg_type"] in ("display_data", "update_display_data") and not seen:
        text = msg["content"]["data"]["text/plain"]
        if "PENDING (" in text:
            seen.append(text)
            say(step="waiting", text=text, transient=msg["content"].get("transient"))
t1 = time.time()
out, reply = run(kc, "import os, socket; print(socket.gethostname(), os.environ['SLURM_JOB_ID'])", on_output=waiting)
say(step="result", stdout=out, status=reply["content"]["status"], seconds=time.time() - t1)

msg_id = kc.execute("import time; print('sleeping', flush=True); time.sleep(60)")
while True:
    msg = kc.get_iopub_msg(timeout=30)
    if msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "stream":
        break
t2 = time.time()
km.interrupt_kernel()
reply = shell_reply(kc, msg_id, 30)
say(step="interrupted", ename=reply["content"].get("ename"), seconds=time.time() - t2)

job, _ = run(kc, "x = 1; print(os.environ['SLURM_JOB_ID'])")
t3 = time.time()
km.restart_kernel(now=False)
kc.wait_for_ready(timeout=120)
after, _ = run(kc, "import os; print(os.environ['SLURM_JOB_ID'], 'x' in dir())")
say(step="restarted", before=job.strip(), after=after.strip(), seconds=time.time() - t3)

t4 = time.time()
km.shutdown_kernel(now=False)
say(step="shutdown", job=job.strip(), seconds=time.time() - t4)
kc.stop_channels()
`;

describe("jupyter_client's KernelManager while the cluster is busy", () => {
  let blocker: string | undefined;

  afterAll(async () => {
    if (blocker !== undefined)
      await clusterScript('ssh', 'scancel', blocker).catch(() => undefined);
  });

  it('waits in the queue, then runs on a node; interrupts, restarts in the same job, shuts down', async () => {
    // Four nodes, exclusively: ours has to wait behind it.
    blocker = (
      await clusterScript(
        'ssh',
        'sbatch',
        '--parsable',
        '--nodes=4',
        '--exclusive',
        '--time=5',
        '--job-name=hpcj-e2e-blocker',
        // ssh hands the words to the login node's shell: quoted for it.
        "--wrap='sleep 280'",
      )
    ).trim();
    const running = Date.now();
    while (!(await squeue(blocker)).includes(' R ')) {
      if (Date.now() - running > 120_000)
        throw new Error(`the blocking job ${blocker} did not start`);
      await new Promise((r) => setTimeout(r, 500));
    }

    const py = spawn(join(VENV, 'bin', 'python'), ['-c', KERNEL_MANAGER_PY, SPEC], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(py);
    let stderr = '';
    py.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const steps: Record<string, Record<string, unknown>> = {};
    const stepTimes: Record<string, number> = {};
    let cancelledAt = 0;
    for await (const line of createInterface({ input: py.stdout })) {
      const step = JSON.parse(line) as Record<string, unknown> & { step: string };
      steps[step.step] = step;
      stepTimes[step.step] = Date.now();
      if (step.step === 'waiting') {
        // Seen while queued; now let ours run.
        const session = await sessionOfProfile(
          (s) => s.state === 'queued' && s.reason !== undefined,
        );
        expect(session.reason).toMatch(/Resources|Priority/);
        await clusterScript('ssh', 'scancel', blocker);
        cancelledAt = Date.now();
      }
    }
    expect(steps['ready'], stderr).toBeDefined();
    console.log(`[remote-kernel] KernelManager steps: ${JSON.stringify(steps)}`);
    expect(steps['ready']?.['seconds']).toBeLessThan(5);
    expect(String(steps['waiting']?.['text'])).toMatch(
      /^Waiting for Slurm job \d+ on testlab: PENDING \((Resources|Priority)\)/,
    );
    const transient = steps['waiting']?.['transient'] as Record<string, unknown> | undefined;
    expect(typeof transient?.['display_id']).toBe('string');
    expect(cancelledAt).toBeGreaterThan(0);
    expect(steps['result']).toMatchObject({ status: 'ok' });
    expect(String(steps['result']?.['stdout'])).toMatch(/^node[1-4] \d+\n$/);
    expect(steps['interrupted']).toMatchObject({ ename: 'KeyboardInterrupt' });
    expect(steps['interrupted']?.['seconds']).toBeLessThan(5);
    const restarted = steps['restarted'] as { before: string; after: string };
    expect(restarted.after).toBe(`${restarted.before} False`);
    const job = String(steps['shutdown']?.['job']);
    const left = await gone(
      job,
      Math.max(0, 10_000 - (Date.now() - (stepTimes['shutdown'] ?? Date.now()))),
    );
    console.log(`[remote-kernel] job ${job} left squeue ${left} ms after the check began`);
  }, 600_000);
});

describe('a job that ends under a running cell', () => {
  it('tells the notebook why, and the launcher exits so Jupyter offers a restart', async () => {
    const file = join(root, `kernel-${randomUUID()}.json`);
    const info = await writeConnectionFile(file, randomUUID());
    const known = await knownSessions();
    const child = launch(file);
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const client = new TestKernelClient(info);
    try {
      await client.waitReady(5000);
      const id = await client.send('shell', 'execute_request', {
        code: "import time; print('running', flush=True); time.sleep(300)",
        silent: false,
      });
      await client.waitIopub(id, (m) => m.header.msg_type === 'stream', 120_000);
      const session = await sessionOfProfile((s) => s.state === 'ready', known);
      // Someone stops the job from outside (the CLI, the HPC panel, the walltime).
      const stopped = await cli(['stop', session.id], env);
      expect(stopped.code, stopped.stderr).toBe(0);
      const said = await client.waitIopub(
        id,
        (m) => m.header.msg_type === 'stream' && m.content['name'] === 'stderr',
        60_000,
      );
      expect(String(said.content['text'])).toMatch(
        new RegExp(
          `^hpc-jupyter: Slurm job ${session.jobId ?? '?'} on testlab has ended \\(cancelled`,
        ),
      );
      expect(await exited).toBe(1);
    } finally {
      client.close();
    }
  }, 180_000);
});

describe('a launcher killed with SIGKILL', () => {
  it('leaves no job behind once the grace period is over', async () => {
    const file = join(root, `kernel-${randomUUID()}.json`);
    const info = await writeConnectionFile(file, randomUUID());
    const known = await knownSessions();
    const child = launch(file);
    const client = new TestKernelClient(info);
    try {
      await client.waitReady(5000);
      const session = await sessionOfProfile((s) => s.jobId !== undefined, known);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      const killed = Date.now();
      await gone(session.jobId as string, 40_000);
      const after = Date.now() - killed;
      console.log(`[remote-kernel] job ${session.jobId ?? '?'} gone ${after} ms after SIGKILL`);
      expect(after).toBeGreaterThan(5_000); // the grace period: a restart could still pick it up
      // The agent stopped it: the session ends as cancelled once its next poll sees the job gone.
      const deadline = Date.now() + 30_000;
      let state = (await agent.session(session.id)).state;
      while (state === 'stopping' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 500));
        state = (await agent.session(session.id)).state;
      }
      expect(state).toBe('cancelled');
    } finally {
      client.close();
    }
  }, 120_000);
});
