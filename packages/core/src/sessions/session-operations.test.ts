/**
 * Operations on sessions whose timing a real scheduler won't give on demand: kernels and their
 * endpoints, waiting, a stop that arrives while the submit is under way.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError, NotFoundError, SessionNotFoundError, TimeoutError } from '../errors.js';
import type { SubmitRequest } from '../schedulers/types.js';
import { LocalTransport } from '../transport/local.js';
import { SessionManager } from './session-manager.js';
import { clusterConfig, clusterSource, FakeScheduler, scriptRenderer } from './test-kit.js';

let root: string;
let scheduler: FakeScheduler;
let transport: LocalTransport;
let manager: SessionManager;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-ops-'));
  scheduler = new FakeScheduler();
  transport = new LocalTransport();
  manager = await SessionManager.open({
    clusters: clusterSource({
      hpc: {
        config: clusterConfig('hpc', path.join(root, 'work'), scheduler),
        transport,
        scheduler,
      },
    }),
    renderer: scriptRenderer([
      { name: 'kernel', title: 'Python kernel', kind: 'kernel', body: 'true' },
      { name: 'jupyter', title: 'JupyterLab', kind: 'server', body: 'true' },
    ]),
    stateDir: path.join(root, 'state'),
    intervals: { busyMs: 20, steadyMs: 100, jitter: 0, errorMs: 20, maxBackoffMs: 160 },
  });
});

afterEach(async () => {
  await manager.close();
  await transport.close();
  await rm(root, { recursive: true, force: true });
});

describe('kernel sessions', () => {
  it('take the kernel key the client gives (the launcher passes its connection file key)', async () => {
    const given = 'c0ffee00-1111-4222-8333-444455556666';
    const s = await manager.start({ cluster: 'hpc', template: 'kernel', kernelKey: given });
    expect(await manager.secret(s.id)).toBe(given);
    expect(await readFile(path.join(s.sessionDir as string, 'kernel-key'), 'utf8')).toBe(given);
    expect(JSON.stringify(manager.get(s.id))).not.toContain(given);
    await expect(
      manager.start({ cluster: 'hpc', template: 'jupyter', kernelKey: given }),
    ).rejects.toThrow(/does not start a kernel/);
  });

  it('hand the job a kernel key and offer one endpoint per channel, by name only', async () => {
    const s = await manager.start({ cluster: 'hpc', template: 'kernel' });
    const key = await manager.secret(s.id);
    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const dir = s.sessionDir as string;
    expect(await readFile(path.join(dir, 'kernel-key'), 'utf8')).toBe(key);
    await writeFile(
      path.join(dir, 'connection.json'),
      JSON.stringify({
        kind: 'kernel',
        ip: '127.0.0.1',
        transport: 'tcp',
        signature_scheme: 'hmac-sha256',
        shell_port: 5001,
        iopub_port: 5002,
        stdin_port: 5003,
        control_port: 5004,
        hb_port: 5005,
      }),
    );
    scheduler.set(s.jobId as string, 'starting', { reason: undefined });
    const ready = await manager.waitFor(s.id, (r) => r.state === 'ready', { timeout: 5_000 });
    expect(ready.connection?.kernelPorts).toEqual({
      shell: 5001,
      iopub: 5002,
      stdin: 5003,
      control: 5004,
      hb: 5005,
    });
    const iopub = await manager.access(s.id, 'kernel-iopub');
    expect(iopub.url).toBe(`tcp://127.0.0.1:${iopub.localPort}`);
    expect(iopub.endpoint).toEqual({ name: 'kernel-iopub', host: '127.0.0.1', port: 5002 });
    await expect(manager.access(s.id, '127.0.0.1:22')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('waitFor', () => {
  it('resolves at once when the condition holds already', async () => {
    const s = await manager.start({ cluster: 'hpc', template: 'jupyter' });
    expect((await manager.waitFor(s.id, (r) => r.jobId !== undefined)).id).toBe(s.id);
  });

  it('rejects on timeout, abort, unknown ids and when the manager closes', async () => {
    const s = await manager.start({ cluster: 'hpc', template: 'jupyter' });
    const never = (): boolean => false;
    await expect(manager.waitFor(s.id, never, { timeout: 30 })).rejects.toBeInstanceOf(
      TimeoutError,
    );
    const controller = new AbortController();
    const aborted = manager.waitFor(s.id, never, { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(AbortedError);
    await expect(manager.waitFor('s999999999999', never)).rejects.toBeInstanceOf(
      SessionNotFoundError,
    );
    // Awaited from the start: close() settles it before close() itself resolves.
    const pending = expect(manager.waitFor(s.id, never)).rejects.toThrow(/closed/);
    await manager.close();
    await pending;
  });
});

describe('stop', () => {
  it('during the submit: the job is cancelled as soon as it has an id', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const submit = scheduler.submit.bind(scheduler);
    scheduler.submit = async (request: SubmitRequest) => {
      await gate;
      return submit(request);
    };
    const starting = manager.start({ cluster: 'hpc', template: 'jupyter' });
    let id: string | undefined;
    while (id === undefined) {
      await new Promise((r) => setTimeout(r, 5));
      id = manager.list()[0]?.id;
    }
    const stopping = await manager.stop(id);
    expect(stopping.state).toBe('stopping');
    release();
    const started = await starting;
    expect(started.state).toBe('stopping');
    expect(scheduler.cancelled).toEqual([started.jobId]);
    await manager.waitFor(id, (r) => r.state === 'cancelled', { timeout: 5_000 });
  });
});
