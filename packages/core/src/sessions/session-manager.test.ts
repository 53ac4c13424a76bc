/**
 * The session manager against the real `local` scheduler and LocalTransport: jobs are real
 * processes, files are real files, tunnels are real sockets.
 */
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OpenCluster } from '../clusters/connections.js';
import { NotFoundError, NotReadyError, SessionEndedError, SessionError } from '../errors.js';
import { jobNameFor } from './session-ids.js';
import { SessionManager, type SessionManagerOptions } from './session-manager.js';
import { SessionStore } from './session-store.js';
import {
  clusterSource,
  eventually,
  localCluster,
  scriptRenderer,
  type ScriptTemplate,
} from './test-kit.js';
import type { AgentEvent, SessionRecord } from './types.js';

/** A Jupyter stand-in: checks its token file, then publishes the port of the test's server. */
const FAKE_JUPYTER: ScriptTemplate = {
  name: 'jupyter',
  title: 'JupyterLab',
  kind: 'server',
  params: ['port', 'delay'],
  body: `
[ -s token ] || { echo "no token"; exit 9; }
echo "job starts in $PWD"
sleep "\${HPCJ_PARAM_DELAY:-0.2}"
printf '{"kind":"jupyter","host":"127.0.0.1","port":%s,"baseUrl":"/sessions/%s/"}' \\
  "$HPCJ_PARAM_PORT" "$HPCJ_SESSION_ID" > .connection.tmp
mv .connection.tmp connection.json
echo "ready"
exec sleep 300
`,
};
const FAILING: ScriptTemplate = {
  name: 'failing',
  title: 'Fails',
  kind: 'engine',
  body: 'for i in $(seq 1 60); do echo "line $i"; done\necho "boom: the server could not start"\nexit 3',
};

let root: string;
let cluster: OpenCluster;
let managers: SessionManager[];
let server: http.Server;
let port: number;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-sessions-'));
  cluster = localCluster(root);
  managers = [];
  server = http.createServer((req, res) => {
    res.end(`hello from ${req.url ?? ''}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  for (const m of managers) await m.close();
  // Jobs outlive managers by design: cancel what is left so no process outlives the test.
  const jobs = await cluster.scheduler.listJobs('hpcj-');
  await cluster.scheduler.cancel(jobs.map((j) => j.id));
  await eventually(async () => (await cluster.scheduler.listJobs('hpcj-')).length === 0);
  await cluster.transport.close();
  server.close();
  await rm(root, { recursive: true, force: true });
});

async function open(extra: Partial<SessionManagerOptions> = {}): Promise<SessionManager> {
  const m = await SessionManager.open({
    clusters: clusterSource({ local: cluster }),
    renderer: scriptRenderer([FAKE_JUPYTER, FAILING]),
    stateDir: path.join(root, 'state'),
    intervals: { busyMs: 50, steadyMs: 200, errorMs: 50, maxBackoffMs: 400 },
    ...extra,
  });
  managers.push(m);
  return m;
}

const isReady = (s: SessionRecord): boolean => s.state === 'ready';

async function grepDir(dir: string, needle: string): Promise<string[]> {
  const hits: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    if ((await readFile(file, 'utf8')).includes(needle)) hits.push(path.relative(dir, file));
  }
  return hits;
}

describe('SessionManager on the local scheduler', () => {
  it('starts a session and follows it to ready; the secret stays out of records', async () => {
    const m = await open();
    const events: AgentEvent[] = [];
    m.onEvent((e) => events.push(e));
    const started = await m.start({ cluster: 'local', template: 'jupyter', params: { port } });
    expect(started.state).toBe('queued');
    expect(started.id).toMatch(/^s[0-9a-f]{12}$/);
    expect(started.jobName).toBe(`hpcj-${started.id}`);
    expect(started.jobId).toMatch(/^[0-9]+$/);
    expect(started.title).toBe('JupyterLab on local (1 node)');

    const ready = await m.waitFor(started.id, isReady, { timeout: 15_000 });
    expect(ready.connection?.endpoints).toEqual([
      { name: 'jupyter', host: '127.0.0.1', port, basePath: `/sessions/${started.id}/` },
    ]);
    expect(ready.readyAt).toBeDefined();
    expect(ready.nodes).toEqual([os.hostname()]);
    const states = events.flatMap((e) => (e.type === 'session' ? [e.session.state] : []));
    expect(states[0]).toBe('submitting');
    expect(states).toContain('queued');
    expect(states.at(-1)).toBe('ready');

    // The job got the token through its 0600 file; the agent keeps it in its secret store only.
    const token = await m.secret(started.id);
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    const dir = ready.sessionDir as string;
    expect(await readFile(path.join(dir, 'token'), 'utf8')).toBe(token);
    expect((await stat(path.join(dir, 'token'))).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(dir, 'job.env'))).mode & 0o777).toBe(0o600);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect(await grepDir(path.join(root, 'state'), token as string)).toEqual([
      path.join('secrets', started.id),
    ]);
    expect((await readdir(path.join(root, 'state'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    const onDisk = await new SessionStore(path.join(root, 'state')).load();
    expect(onDisk.records.find((r) => r.id === started.id)?.state).toBe('ready');
  });

  it('tunnels to the endpoint by name only, once per endpoint, and closes tunnels at the end', async () => {
    const m = await open();
    const s = await m.start({ cluster: 'local', template: 'jupyter', params: { port } });
    await m.waitFor(s.id, isReady, { timeout: 15_000 });
    const access = await m.access(s.id);
    expect(access.url).toBe(`http://127.0.0.1:${access.localPort}/sessions/${s.id}/`);
    expect(await (await fetch(`${access.url}api`)).text()).toBe(`hello from /sessions/${s.id}/api`);
    const again = await m.access(s.id, 'jupyter');
    expect(again.localPort).toBe(access.localPort);
    await expect(m.access(s.id, 'ssh')).rejects.toBeInstanceOf(NotFoundError);

    await m.stop(s.id);
    await m.waitFor(s.id, (r) => r.state === 'cancelled', { timeout: 15_000 });
    await expect(fetch(access.url)).rejects.toThrow();
    await expect(m.access(s.id)).rejects.toBeInstanceOf(NotReadyError);
  });

  it('stop: stopping at once, cancelled once the job ended; idempotent', async () => {
    const m = await open();
    const s = await m.start({ cluster: 'local', template: 'jupyter', params: { port, delay: 30 } });
    await m.waitFor(s.id, (r) => r.state === 'starting', { timeout: 15_000 });
    const stopping = await m.stop(s.id);
    expect(stopping.state).toBe('stopping');
    expect((await m.stop(s.id)).state).toBe('stopping');
    const ended = await m.waitFor(s.id, (r) => r.state === 'cancelled', { timeout: 15_000 });
    expect(ended.endedAt).toBeDefined();
    expect((await m.stop(s.id)).state).toBe('cancelled');
    expect(await m.logs(s.id)).toContain('job starts in');
  });

  it('a failed job: waitFor rejects with the log tail, which the record keeps', async () => {
    const m = await open();
    const s = await m.start({ cluster: 'local', template: 'failing' });
    const error = await m.waitFor(s.id, isReady, { timeout: 15_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SessionEndedError);
    const ended = error as SessionEndedError;
    expect(ended.state).toBe('failed');
    expect(ended.message).toContain('boom: the server could not start');
    expect(ended.logTail?.split('\n').filter((l) => l !== '')).toHaveLength(40);
    const record = m.get(s.id);
    expect(record).toMatchObject({ state: 'failed', exitCode: 3 });
    expect(record?.logTail).toContain('boom');
    // waitFor on an ended session rejects at once; logs can ask for more lines.
    await expect(m.waitFor(s.id, isReady)).rejects.toBeInstanceOf(SessionEndedError);
    expect((await m.logs(s.id, { lines: 5 })).trim().split('\n')).toEqual([
      'line 57',
      'line 58',
      'line 59',
      'line 60',
      'boom: the server could not start',
    ]);
    await m.remove(s.id);
    expect(m.get(s.id)).toBeUndefined();
    expect(await m.secret(s.id).catch((e: unknown) => e)).toBeInstanceOf(SessionError);
  });

  it('a restarted manager reattaches to running jobs without resubmitting', async () => {
    const first = await open();
    const s = await first.start({ cluster: 'local', template: 'jupyter', params: { port } });
    await first.waitFor(s.id, isReady, { timeout: 15_000 });
    await first.close();
    const jobsBefore = await readdir(path.join(root, 'local-jobs'));
    // Moved while no manager watched: the new one must read connection.json again.
    const moved = { kind: 'jupyter', host: '127.0.0.1', port: port + 1, baseUrl: '/x/' };
    await cluster.transport.writeFileAtomic(
      path.join(s.sessionDir as string, 'connection.json'),
      JSON.stringify(moved),
      { mode: 0o600 },
    );

    const second = await open();
    expect(second.get(s.id)?.state).toBe('ready');
    await eventually(() => second.get(s.id)?.connection?.endpoints[0]?.port === port + 1);
    expect(second.get(s.id)?.state).toBe('ready');
    await second.stop(s.id);
    await second.waitFor(s.id, (r) => r.state === 'cancelled', { timeout: 15_000 });
    expect(await readdir(path.join(root, 'local-jobs'))).toEqual(jobsBefore);
  });

  it('a restarted manager sees a job that started while it was away become ready', async () => {
    const first = await open();
    const s = await first.start({
      cluster: 'local',
      template: 'jupyter',
      params: { port, delay: 1 },
    });
    await first.close();
    expect(first.list()[0]?.state).toBe('queued');
    const second = await open();
    const ready = await second.waitFor(s.id, isReady, { timeout: 15_000 });
    expect(ready.connection?.endpoints[0]?.port).toBe(port);
  });

  it('after a crash between persisting and submitting, finds the job by name or fails the session', async () => {
    const stateDir = path.join(root, 'state');
    const store = new SessionStore(stateDir);
    const base = {
      cluster: 'local',
      template: 'jupyter',
      params: {},
      title: 't',
      state: 'submitting' as const,
      createdAt: new Date().toISOString(),
      updatedAt: new Date().toISOString(),
    };
    // One whose job was submitted (the agent died before recording the id), one never submitted.
    const workdir = path.join(root, 'work');
    await cluster.transport.mkdir(workdir, { mode: 0o700 });
    const jobId = await cluster.scheduler.submit({
      script: '#!/bin/bash\nexec sleep 300\n',
      resources: { name: jobNameFor('s00000000000a'), workdir },
    });
    await store.save({ ...base, id: 's00000000000a', jobName: jobNameFor('s00000000000a') });
    await store.save({ ...base, id: 's00000000000b', jobName: jobNameFor('s00000000000b') });

    const m = await open();
    const found = await m.waitFor('s00000000000a', (r) => r.state === 'starting', {
      timeout: 15_000,
    });
    expect(found.jobId).toBe(jobId);
    const lost = await m
      .waitFor('s00000000000b', (r) => r.jobId !== undefined, { timeout: 15_000 })
      .catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(SessionEndedError);
    expect(m.get('s00000000000b')?.reason).toMatch(/no job named hpcj-s00000000000b/);
  });

  it('discovers our jobs it does not know, adopts them with their token, and follows them', async () => {
    const first = await open();
    const s = await first.start({ cluster: 'local', template: 'jupyter', params: { port } });
    await first.waitFor(s.id, isReady, { timeout: 15_000 });
    const token = await first.secret(s.id);
    await first.close();

    // Another machine's agent: its own, empty store.
    const other = await open({ stateDir: path.join(root, 'other-state') });
    expect(other.list()).toEqual([]);
    const found = await other.discover('local');
    expect(found.map((r) => [r.id, r.discovered, r.template, r.jobId])).toEqual([
      [s.id, true, 'jupyter', s.jobId],
    ]);
    expect(await other.discover('local')).toEqual([]);
    expect(await other.secret(s.id)).toBeUndefined();

    const adopted = await other.adopt(s.id);
    expect(adopted.discovered).toBeUndefined();
    expect(await other.secret(s.id)).toBe(token);
    const ready = await other.waitFor(s.id, isReady, { timeout: 15_000 });
    expect(ready.connection?.endpoints[0]?.port).toBe(port);
  });

  it('refuses bad input before anything runs', async () => {
    const m = await open();
    await expect(m.start({ cluster: 'nowhere', template: 'jupyter' })).rejects.toThrow(
      /No cluster/,
    );
    await expect(m.start({ cluster: 'local', template: 'nope' })).rejects.toThrow(/No template/);
    await expect(
      m.start({ cluster: 'local', template: 'jupyter', params: { evil: 'x' } }),
    ).rejects.toThrow(/not a parameter/);
    expect(m.list()).toEqual([]);
    await expect(m.stop('s000000000000')).rejects.toThrow(/No session/);
  });
});
