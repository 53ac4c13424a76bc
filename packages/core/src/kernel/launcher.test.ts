// The launcher with real ZeroMQ sockets on loopback and a real ipykernel (from the project's
// venv) standing in for the kernel in the job; only the agent is a fake (its session record is
// set by the test, its "tunnels" are the ipykernel's own ports).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as zmq from 'zeromq';
import { requireVenv, VENV_PYTHON } from '../../../../templates/runtime/job-harness.js';
import { fakeRecord } from '../agent/fake-session-service.js';
import type { SessionRecord } from '../sessions/types.js';
import { type ConnectionInfo, endpointOf } from './connection-info.js';
import { TestKernelClient, writeConnectionFile } from './kernel-client.testutil.js';
import { KernelLauncher } from './launcher.js';
import type { RemoteEndpoints } from './remote-kernel.js';
import type { LauncherBackend } from './session-link.js';
import { MessageFactory, parseHeader, Signer, splitFrames } from './wire.js';

class FakeBackend implements LauncherBackend {
  readonly clusterName = 'testlab';
  readonly scheduler = 'slurm';
  readonly displayName = 'Test kernel';
  readonly calls: string[] = [];
  record: SessionRecord = fakeRecord('s0123456789ab', {
    template: 'kernel',
    profile: 'p',
    jobId: '42',
    state: 'queued',
    reason: 'Resources',
  });
  private listener: ((r: SessionRecord) => void) | undefined;

  constructor(private readonly remote: ConnectionInfo) {}

  start(): Promise<SessionRecord> {
    this.calls.push('start');
    return Promise.resolve(this.record);
  }
  live(id: string): Promise<SessionRecord | undefined> {
    return Promise.resolve(id === this.record.id ? this.record : undefined);
  }
  lease(id: string): Promise<void> {
    this.calls.push(`lease ${id}`);
    return Promise.resolve();
  }
  keepFor(id: string, seconds: number): Promise<void> {
    this.calls.push(`keep ${id} ${seconds}`);
    return Promise.resolve();
  }
  stop(id: string): Promise<unknown> {
    this.calls.push(`stop ${id}`);
    return Promise.resolve();
  }
  follow(_id: string, onRecord: (r: SessionRecord) => void): void {
    this.listener = onRecord;
  }
  endpoints(): Promise<RemoteEndpoints> {
    const p = this.remote.ports;
    const at = (port: number): string => `tcp://127.0.0.1:${port}`;
    return Promise.resolve({
      shell: at(p.shell),
      iopub: at(p.iopub),
      stdin: at(p.stdin),
      control: at(p.control),
      hb: at(p.hb),
    });
  }
  close(): void {
    this.calls.push('close');
  }
  set(changes: Partial<SessionRecord>): void {
    this.record = { ...this.record, ...changes };
    this.listener?.(this.record);
  }
}

interface Running {
  launcher: KernelLauncher;
  exited: Promise<number>;
  log: string[];
}

let dir: string;
const cleanups: (() => void)[] = [];

beforeAll(() => {
  requireVenv();
});
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
  rmSync(dir, { recursive: true, force: true });
});

async function setup(): Promise<{
  local: ConnectionInfo;
  remote: ConnectionInfo;
  remoteFile: string;
  localFile: string;
}> {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hpcj-launcher-'));
  const key = randomUUID();
  const localFile = path.join(dir, 'kernel-local.json');
  const remoteFile = path.join(dir, 'kernel-remote.json');
  const local = await writeConnectionFile(localFile, key);
  const remote = await writeConnectionFile(remoteFile, key);
  return { local, remote, remoteFile, localFile };
}

function startIpykernel(file: string, stderr?: string[]): ChildProcess {
  const child = spawn(VENV_PYTHON, ['-m', 'ipykernel_launcher', '-f', file], {
    stdio: ['ignore', 'ignore', stderr === undefined ? 'ignore' : 'pipe'],
    cwd: dir,
  });
  child.stderr?.on('data', (d: Buffer) => stderr?.push(d.toString()));
  cleanups.push(() => child.kill('SIGKILL'));
  return child;
}

/** A Dealer on `info`'s `channel` that is not a Jupyter client: it sends frames as told. */
function intruder(info: ConnectionInfo, channel: 'shell' | 'control'): zmq.Dealer {
  const d = new zmq.Dealer({
    linger: 0,
    routingId: `intruder-${randomUUID()}`,
    receiveTimeout: 300,
  });
  d.connect(endpointOf(info, channel));
  cleanups.push(() => {
    d.close();
  });
  return d;
}

/** An execute request signed with `key` ('' for none), as frames a Dealer sends. */
function executeSignedWith(key: string, code: string): { id: string; frames: Buffer[] } {
  const frames = new MessageFactory(new Signer(key)).make({
    msgType: 'execute_request',
    content: {
      code,
      silent: false,
      store_history: false,
      user_expressions: {},
      allow_stdin: false,
    },
  });
  return { id: parseHeader(splitFrames(frames).header).msg_id, frames };
}

async function startLauncher(
  localFile: string,
  local: ConnectionInfo,
  backend: LauncherBackend,
): Promise<Running> {
  const log: string[] = [];
  let done: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => {
    done = resolve;
  });
  const launcher = await KernelLauncher.start({
    profile: 'p',
    connectionFile: localFile,
    info: local,
    env: {},
    version: 'test',
    stateDir: path.join(dir, 'state'),
    log: (line) => log.push(line),
    exit: done,
    backend: () => Promise.resolve(backend),
  });
  cleanups.push(() => void launcher.terminate());
  return { launcher, exited, log };
}

function client(info: ConnectionInfo): TestKernelClient {
  const c = new TestKernelClient(info);
  cleanups.push(() => {
    c.close();
  });
  return c;
}

describe('the kernel launcher', () => {
  it('answers at once, holds an execute request while queued, then runs it on the kernel', async () => {
    const { local, remote, remoteFile, localFile } = await setup();
    const backend = new FakeBackend(remote);
    await startLauncher(localFile, local, backend);
    const c = client(local);
    const info = await c.waitReady(3000);
    expect(info.content['implementation']).toBe('hpc-jupyter');
    expect(info.signatureOk).toBe(true);

    const run = c.execute('import os; print(os.getpid())', 60_000);
    await new Promise((r) => setTimeout(r, 300));
    const waiting = c.iopub.find((m) => m.header.msg_type === 'display_data');
    expect(waiting).toBeDefined();
    const text = String((waiting?.content['data'] as Record<string, unknown>)['text/plain']);
    expect(text).toMatch(
      /^Waiting for Slurm job 42 on testlab: PENDING \(Resources\), \d+:\d\d elapsed$/,
    );
    const transient = waiting?.content['transient'] as Record<string, unknown>;
    expect(String(transient['display_id'])).toMatch(/^hpcj-wait-/);

    const kernel = startIpykernel(remoteFile);
    backend.set({
      state: 'ready',
      nodes: ['node1'],
      connection: { kind: 'kernel', node: 'node1', endpoints: [] },
    });
    const result = await run;
    expect(result.reply.content['status']).toBe('ok');
    expect(result.reply.signatureOk).toBe(true);
    expect(result.stdout.trim()).toBe(String(kernel.pid));
    const updates = c
      .outputsOf(result.id)
      .filter((m) => m.header.msg_type === 'update_display_data');
    const last = updates.at(-1)?.content['data'] as Record<string, unknown>;
    expect(String(last['text/plain'])).toMatch(/^Running in Slurm job 42 on node1/);
    expect(backend.calls).toEqual(['start', 'lease s0123456789ab']);
  }, 60_000);

  it('forwards interrupts and input, and cancels the job on shutdown', async () => {
    const { local, remote, remoteFile, localFile } = await setup();
    const backend = new FakeBackend(remote);
    backend.record = { ...backend.record, state: 'ready' };
    startIpykernel(remoteFile);
    const running = await startLauncher(localFile, local, backend);
    const c = client(local);
    await c.waitReady(3000);
    // The first execute waits for the kernel to come up and answer through the launcher.
    expect((await c.execute('1 + 1', 60_000)).result).toBe('2');

    const sleepId = await c.send('shell', 'execute_request', {
      code: 'import time; print("sleeping", flush=True); time.sleep(60)',
      silent: false,
    });
    // ipykernel only takes SIGINT as KeyboardInterrupt once the cell's code runs.
    await c.waitIopub(sleepId, (m) => m.header.msg_type === 'stream', 20_000);
    const asked = Date.now();
    await c.request('control', 'interrupt_request', {});
    const interrupted = await c.replyTo(sleepId, 30_000);
    expect(interrupted.content['ename']).toBe('KeyboardInterrupt');
    expect(Date.now() - asked).toBeLessThan(5000);

    const inputId = await c.send('shell', 'execute_request', {
      code: 'print("got", input("name? "))',
      silent: false,
      allow_stdin: true,
    });
    const ask = await c.waitFor('input_request');
    expect(ask.content['prompt']).toBe('name? ');
    await c.send('stdin', 'input_reply', { value: 'ada' });
    await c.replyTo(inputId, 30_000);
    const printed = await c.waitIopub(inputId, (m) => m.header.msg_type === 'stream');
    expect(printed.content['text']).toContain('got ada');

    const bye = await c.request('control', 'shutdown_request', { restart: false });
    expect(bye.content).toMatchObject({ status: 'ok', restart: false });
    expect(await running.exited).toBe(0);
    expect(backend.calls).toContain('stop s0123456789ab');
  }, 60_000);

  it('keeps the job on restart: the next launcher takes the session over', async () => {
    const { local, remote, remoteFile, localFile } = await setup();
    const backend = new FakeBackend(remote);
    backend.record = { ...backend.record, state: 'ready' };
    const first = startIpykernel(remoteFile);
    const l1 = await startLauncher(localFile, local, backend);
    const c = client(local);
    await c.waitReady(3000);
    expect((await c.execute('x = 41', 60_000)).reply.content['status']).toBe('ok');

    const firstExit = new Promise((r) => first.once('exit', r));
    const reply = await c.request('control', 'shutdown_request', { restart: true });
    expect(reply.content).toMatchObject({ status: 'ok', restart: true });
    expect(await l1.exited).toBe(0);
    expect(backend.calls).toContain('keep s0123456789ab 60');
    expect(backend.calls).not.toContain('stop s0123456789ab');
    // The job's loop starts the kernel again on the same ports.
    await firstExit;
    const second = startIpykernel(remoteFile);

    backend.calls.length = 0;
    await startLauncher(localFile, local, backend);
    const again = await c.execute('import os; print(os.getpid(), "x" in dir())', 60_000);
    expect(again.stdout.trim()).toBe(`${second.pid} False`);
    expect(backend.calls).toEqual(['lease s0123456789ab']);
  }, 90_000);

  it('restarts the kernel in the job when Jupyter killed the launcher (a forced restart)', async () => {
    const { local, remote, remoteFile, localFile } = await setup();
    const backend = new FakeBackend(remote);
    backend.record = { ...backend.record, state: 'ready' };
    const first = startIpykernel(remoteFile);
    const l1 = await startLauncher(localFile, local, backend);
    const c = client(local);
    await c.waitReady(3000);
    expect((await c.execute('x = 41', 60_000)).reply.content['status']).toBe('ok');
    // SIGKILL gives no shutdown request: the next launcher finds the old kernel still running.
    await l1.launcher.terminate();
    backend.calls.length = 0;
    const firstExit = new Promise((r) => first.once('exit', r));
    const l2 = startLauncher(localFile, local, backend);
    await firstExit;
    const second = startIpykernel(remoteFile);
    await l2;
    const again = await c.execute('import os; print(os.getpid(), "x" in dir())', 60_000);
    expect(again.stdout.trim()).toBe(`${second.pid} False`);
    expect(backend.calls).toEqual(['lease s0123456789ab']);
  }, 90_000);

  it('answers held requests as interrupted, and says why when the job ends', async () => {
    const { local, remote, localFile } = await setup();
    const backend = new FakeBackend(remote);
    const running = await startLauncher(localFile, local, backend);
    const c = client(local);
    await c.waitReady(3000);
    const id = await c.send('shell', 'execute_request', { code: 'pass', silent: false });
    await c.waitIopub(id, (m) => m.header.msg_type === 'display_data');
    await c.request('control', 'interrupt_request', {});
    const reply = await c.replyTo(id);
    expect(reply.content).toMatchObject({ status: 'error', ename: 'KeyboardInterrupt' });

    const second = await c.send('shell', 'execute_request', { code: 'pass', silent: false });
    await c.waitIopub(second, (m) => m.header.msg_type === 'display_data');
    backend.set({ state: 'timed-out', reason: 'the job reached its time limit' });
    const said = await c.waitIopub(second, (m) => m.header.msg_type === 'stream');
    expect(said.content['text']).toMatch(
      /Slurm job 42 on local has ended \(timed-out: the job reached its time limit\)/,
    );
    expect(await running.exited).toBe(1);
  }, 90_000);

  it('drops unsigned and wrongly signed requests: nothing held, answered, forwarded or run', async () => {
    const { local, remote, remoteFile, localFile } = await setup();
    const backend = new FakeBackend(remote);
    const running = await startLauncher(localFile, local, backend);
    const c = client(local);
    await c.waitReady(3000);
    const shell = intruder(local, 'shell');
    const control = intruder(local, 'control');
    const unsigned = executeSignedWith('', 'hpcj_attack = 1');
    const forged = executeSignedWith('not-the-key', 'hpcj_attack = 2');
    await shell.send(unsigned.frames);
    await shell.send(forged.frames);
    // Not even the stand-in's answers, nor a shutdown, for a message without the key.
    const info = new MessageFactory(new Signer('')).make({
      msgType: 'kernel_info_request',
      content: {},
    });
    await shell.send(info);
    const bye = new MessageFactory(new Signer('not-the-key')).make({
      msgType: 'shutdown_request',
      content: { restart: false },
    });
    await control.send(bye);
    await expect(shell.receive()).rejects.toThrow();
    await expect(control.receive()).rejects.toThrow();
    // Neither was held: no busy status, no waiting message on iopub.
    expect(c.outputsOf(unsigned.id)).toEqual([]);
    expect(c.outputsOf(forged.id)).toEqual([]);
    expect(running.log).toContain(
      "Invalid Message on shell: its signature is not the connection key's; dropped",
    );
    expect(running.log.some((l) => l.startsWith('Invalid Message on control:'))).toBe(true);

    // Forwarding now: the kernel never sees them (ipykernel would log "Invalid Message" itself).
    const kernelStderr: string[] = [];
    startIpykernel(remoteFile, kernelStderr);
    backend.set({
      state: 'ready',
      nodes: ['node1'],
      connection: { kind: 'kernel', node: 'node1', endpoints: [] },
    });
    expect((await c.execute('print("hpcj_attack" in dir())', 60_000)).stdout).toBe('False\n');
    const late = executeSignedWith('', 'hpcj_attack = 3');
    await shell.send(late.frames);
    await shell.send(executeSignedWith('not-the-key', 'hpcj_attack = 4').frames);
    await control.send(bye);
    await expect(shell.receive()).rejects.toThrow();
    const check = await c.execute('print("hpcj_attack" in dir())', 60_000);
    expect(check.stdout).toBe('False\n');
    expect(c.outputsOf(late.id)).toEqual([]);
    // The intruder's connection to the kernel is not the owner's: give it time to have arrived.
    await new Promise((r) => setTimeout(r, 500));
    expect(kernelStderr.join('')).not.toMatch(/invalid message/i);
    expect(backend.calls).not.toContain('stop s0123456789ab');
  }, 90_000);
});
