/**
 * The fault matrix (issue 18) for the remote kernel, on the Slurm test cluster, through a private
 * agent that logs in over a path of its own (faults-support.ts) so the network can be cut
 * without disturbing other tests:
 * - case 3: the network to the login node dropped (a router that drops every packet, both ways) for 5 s and
 *   20 s during a running cell: the same kernel (same process, same session, its variables) and
 *   the cell's whole output come back, through the same launcher. 120 s with HPCJ_FAULTS_LONG=1
 *   (it waits out SSH's keepalive, too long for the default tier).
 * - case 2: the agent killed with -9, then the launcher, then an agent started: the job is
 *   cancelled once the grace is over (the leases are in the session store).
 * Each prints what it measured.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { RESTORED_GRACE_MS } from '../../packages/core/src/agent/session-leases.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import {
  type ReceivedMessage,
  TestKernelClient,
  writeConnectionFile,
} from '../../packages/core/src/kernel/kernel-client.testutil.js';
import type { SessionRecord } from '../../packages/core/src/sessions/types.js';
import { type CuttablePath, cuttablePath } from './faults-support.js';
import {
  cli,
  clusterScript,
  installTestKernelProfile,
  stopPrivateAgent,
  testCluster,
} from './support.js';

const PROFILE = 'e2e-faults';
const LONG = process.env['HPCJ_FAULTS_LONG'] === '1';

let dir: string;
let root: string;
let env: Record<string, string>;
let argv: string[];
let agent: AgentClient;
let net: CuttablePath;
const children: ChildProcess[] = [];
/** Case 3's kernel, its pid and session, still used by the last case. */
let caseThree: { k: Launched; pid: string } | undefined;

beforeAll(async () => {
  const cluster = await testCluster();
  dir = mkdtempSync(join(tmpdir(), 'hpcj-faults-net-'));
  net = await cuttablePath(cluster.configFile, dir);
  ({ root, env, argv } = await installTestKernelProfile(net.configFile, {
    prefix: 'hpcj-faults-',
    profile: PROFILE,
    name: 'E2E faults',
    spec: `hpcj-${PROFILE}`,
  }));
  agent = new AgentClient(agentSocketPath(env));
}, 60_000);

afterAll(async () => {
  caseThree?.k.client.close();
  for (const child of children) child.kill('SIGKILL');
  await net.heal().catch(() => undefined);
  await stopPrivateAgent(env).catch(() => undefined);
  await net.close();
  await rm(root, { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
}, 120_000);

interface Launched {
  readonly child: ChildProcess;
  /** The launcher's log (its stderr), line by line. */
  readonly log: string[];
  readonly client: TestKernelClient;
}

async function launch(): Promise<Launched> {
  const file = join(root, `kernel-${randomUUID()}.json`);
  const info = await writeConnectionFile(file, randomUUID());
  const [exe, ...args] = argv.map((a) => (a === '{connection_file}' ? file : a));
  const child = spawn(exe as string, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  const log: string[] = [];
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    log.push(...chunk.split('\n').filter((l) => l !== ''));
  });
  const client = new TestKernelClient(info);
  await client.waitReady(10_000);
  return { child, log, client };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function squeue(jobId: string): Promise<string> {
  return (
    await clusterScript('slurm', 'squeue', '--noheader', `--jobs=${jobId}`).catch(() => '')
  ).trim();
}

async function sessionOf(jobless: ReadonlySet<string>): Promise<SessionRecord> {
  const all = await agent.sessions();
  const found = all.find((s) => s.profile === PROFILE && !jobless.has(s.id) && s.jobId);
  if (found === undefined) throw new Error('no session of the profile with a job');
  return found;
}

function texts(messages: readonly ReceivedMessage[], name: string): string {
  return messages
    .filter((m) => m.header.msg_type === 'stream' && m.content['name'] === name)
    .map((m) => String(m.content['text']))
    .join('');
}

/** The session id of the kernel that answers (asked on control, as a running cell allows). */
async function kernelSession(client: TestKernelClient): Promise<string> {
  const reply = await client.request('control', 'kernel_info_request', {}, 30_000);
  return reply.header.session;
}

describe('matrix case 3: the network to the login node cut during a running cell', () => {
  let k: Launched;
  let pid: string;
  let session: string;
  const table: string[] = [];

  afterAll(() => {
    console.log(`[faults] case 3\n${table.join('\n')}`);
  });

  it('starts a kernel and sets a variable', async () => {
    k = await launch();
    const first = await k.client.execute('x = 41\nimport os\nos.getpid()', 180_000);
    expect(first.reply.content['status']).toBe('ok');
    pid = first.result ?? '';
    expect(pid).toMatch(/^\d+$/);
    session = await kernelSession(k.client);
    caseThree = { k, pid };
  }, 200_000);

  const cuts = LONG ? [5, 20, 120] : [5, 20];
  for (const seconds of cuts) {
    it(`${seconds} s: the same kernel and the whole output come back`, async () => {
      // Prints a line every half second for longer than the cut.
      const lines = 2 * (seconds + 10);
      const id = await k.client.send('shell', 'execute_request', {
        code: `import time\nfor i in range(${lines}):\n    print(i, flush=True)\n    time.sleep(0.5)`,
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: true,
      });
      await k.client.waitIopub(id, (m) => m.header.msg_type === 'stream', 30_000);
      await net.cut();
      const cutAt = Date.now();
      await sleep(seconds * 1000);
      const before = k.client.iopub.length;
      await net.heal();
      const healedAt = Date.now();
      while (k.client.iopub.length === before) {
        if (Date.now() - healedAt > 300_000) throw new Error('nothing came after the heal');
        await sleep(50);
      }
      const firstOutput = Date.now() - healedAt;
      const reply = await k.client.replyTo(id, 300_000);
      await k.client.waitIopub(
        id,
        (m) => m.header.msg_type === 'status' && m.content['execution_state'] === 'idle',
        30_000,
      );
      const out = k.client.outputsOf(id);
      const printed = texts(out, 'stdout');
      const expected = Array.from({ length: lines }, (_, i) => `${i}\n`).join('');
      const got = printed.split('\n').filter((l) => l !== '').length;
      // The same launcher, kernel process, kernel session and variables.
      const alive = k.child.exitCode === null;
      const after = await k.client.execute('(x + 1, os.getpid())', 60_000);
      const sameSession = (await kernelSession(k.client)) === session;
      const back = k.log.find((l) => l.includes('the kernel answers again after'));
      table.push(
        `  cut ${seconds} s (${Date.now() - cutAt} ms in all): first output ${firstOutput} ms after ` +
          `the heal, cell done ${Date.now() - healedAt} ms after; ${got}/${lines} lines; ` +
          `launcher alive ${alive}, same kernel ${after.result === `(42, ${pid})` && sameSession}; ` +
          `launcher: ${back ?? 'no silence seen'}`,
      );
      expect(reply.content['status']).toBe('ok');
      expect(alive).toBe(true);
      expect(after.result).toBe(`(42, ${pid})`);
      expect(sameSession).toBe(true);
      const notices = texts(out, 'stderr');
      if (seconds > 10) {
        expect(notices).toMatch(/lost the connection to the kernel/);
        expect(notices).toMatch(/reconnected to the kernel after \d+ s; it kept its variables/);
      }
      expect(printed).toBe(expected);
      k.log.length = 0;
    }, 420_000);
  }
});

describe('matrix case 2: the agent killed with -9, then the launcher, then an agent started', () => {
  it('cancels the job once the restored lease is not taken again within the grace', async () => {
    const known = new Set((await agent.sessions()).map((s) => s.id));
    const k = await launch();
    try {
      const ran = await k.client.execute('1 + 1', 180_000);
      expect(ran.result).toBe('2');
      const record = await sessionOf(known);
      const jobId = record.jobId as string;
      const { pid } = await agent.health();
      const launcherGone = new Promise((r) => k.child.once('exit', r));
      // Together: the launcher must not get to start an agent of its own in between.
      process.kill(pid, 'SIGKILL');
      k.child.kill('SIGKILL');
      await launcherGone;
      expect(await squeue(jobId)).not.toBe('');
      const started = Date.now();
      expect((await agent.health().catch(() => undefined))?.pid).toBeUndefined();
      // The CLI starts an agent (which finds the stored lease, and no launcher to hold it).
      const listed = await cli(['list', '--json'], env);
      expect(listed.code, listed.stderr).toBe(0);
      let seen = Date.now();
      while ((await squeue(jobId)) !== '') {
        seen = Date.now();
        if (seen - started > RESTORED_GRACE_MS + 60_000) {
          throw new Error(`job ${jobId} still in squeue ${seen - started} ms after the agent`);
        }
        await sleep(500);
      }
      const cancelledAfter = Date.now() - started;
      expect(cancelledAfter).toBeGreaterThanOrEqual(RESTORED_GRACE_MS - 1000);
      const final = await agent.session(record.id);
      console.log(
        `[faults] case 2: job ${jobId} left squeue ${cancelledAfter} ms after the new agent was asked for (grace ${RESTORED_GRACE_MS} ms); session ${final.state}`,
      );
    } finally {
      k.client.close();
    }
  }, 240_000);
});

describe('matrix case 9: a truncated session record and a stale temp file at agent start', () => {
  it('loads the other sessions and reports the damaged record', async () => {
    const before = (await agent.sessions()).map((s) => s.id).sort();
    expect(before.length).toBeGreaterThan(0);
    const store = join(env['XDG_STATE_HOME'] as string, 'hpc-jupyter', 'sessions');
    const truncated = join(store, 'sdeadbeef0009.json');
    writeFileSync(truncated, '{"id": "sdeadbeef0009", "cluster": "testl', { mode: 0o600 });
    const temp = join(store, `.${before[0] ?? ''}.json.crash.tmp`);
    writeFileSync(temp, '{"id": ', { mode: 0o600 });
    const anHourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(temp, anHourAgo, anHourAgo);
    const { pid } = await agent.health();
    // A clean stop; the launcher of case 3 (or the CLI below) starts the next agent.
    expect((await cli(['agent', 'stop'], env)).code).toBe(0);
    let next: number | undefined;
    const deadline = Date.now() + 30_000;
    while (next === undefined || next === pid) {
      if (Date.now() > deadline) throw new Error('no new agent within 30 s');
      await cli(['list', '--json'], env);
      next = (await agent.health().catch(() => undefined))?.pid;
    }
    expect((await agent.sessions()).map((s) => s.id).sort()).toEqual(before);
    expect(existsSync(temp)).toBe(false);
    expect(existsSync(truncated)).toBe(true);
    const log = readFileSync(
      join(env['XDG_STATE_HOME'] as string, 'hpc-jupyter', 'agent.log'),
      'utf8',
    );
    expect(log).toMatch(/Session file \S*sdeadbeef0009\.json is damaged/);
    console.log(
      `[faults] case 9: ${before.length} sessions loaded; the truncated record reported, the stale temp file removed`,
    );
  }, 90_000);
});

describe('matrix case 2, the other way: the agent killed with -9 while the launcher lives', () => {
  it('keeps the job and the kernel: the launcher starts an agent, leases its session again and reconnects', async () => {
    const live = (await agent.sessions()).filter(
      (s) => s.profile === PROFILE && s.state === 'ready',
    );
    // Case 3's launcher still runs.
    expect(live).toHaveLength(1);
    const [session] = live as [SessionRecord];
    const { pid } = await agent.health();
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    let next: number | undefined;
    while (next === undefined || next === pid) {
      if (Date.now() - killedAt > 30_000) throw new Error('the launcher started no agent in 30 s');
      await sleep(250);
      next = (await agent.health().catch(() => undefined))?.pid;
    }
    const startedIn = Date.now() - killedAt;
    // The same kernel, through the new agent's tunnels.
    const three = caseThree;
    expect(three).toBeDefined();
    const again = await three?.k.client.execute('(x + 1, os.getpid())', 90_000);
    expect(again?.result).toBe(`(42, ${three?.pid ?? ''})`);
    const kernelBackIn = Date.now() - killedAt;
    await sleep(RESTORED_GRACE_MS + 10_000);
    const after = await agent.session(session.id);
    expect(after.state).toBe('ready');
    expect(await squeue(session.jobId as string)).not.toBe('');
    console.log(
      `[faults] case 2b: the launcher started agent ${next} ${startedIn} ms after the kill, the same kernel ran a cell ${kernelBackIn} ms after it; job ${session.jobId ?? ''} still ${after.state} ${RESTORED_GRACE_MS + 10_000} ms later`,
    );
  }, 180_000);
});
