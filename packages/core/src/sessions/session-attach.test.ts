/**
 * Attaching to engine sessions: with a session directory on this machine and the real local
 * transport, the Dask TLS files and ipyparallel's client file land 0600 in a 0700 directory, the
 * addresses and ports are the tunnels' local forwards, every forward goes to an endpoint the job
 * published, and what cannot be attached to says why.
 */
import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidInputError, NotReadyError } from '../errors.js';
import { LocalTransport } from '../transport/local.js';
import { fakeRecord } from '../agent/fake-session-service.js';
import {
  attachEngine,
  ippEndpointName,
  ippRoutes,
  localIppClientInfo,
  removeAttachment,
  sparkRemote,
} from './session-attach.js';
import { SessionTunnels } from './session-tunnels.js';
import type { SessionEndpoint, SessionRecord } from './types.js';

const CHANNELS = ['registration', 'control', 'mux', 'task', 'iopub', 'notification', 'broadcast'];

let root: string;
let sessionDir: string;
const transport = new LocalTransport();
const tunnels = new SessionTunnels();
let server: Server;
let port = 0;

beforeAll(async () => {
  root = mkdtempSync(path.join(tmpdir(), 'hpcj-attach-'));
  sessionDir = path.join(root, 'session');
  mkdirSync(path.join(sessionDir, 'dask-tls'), { recursive: true });
  for (const name of ['ca', 'cert', 'key']) {
    writeFileSync(path.join(sessionDir, 'dask-tls', `${name}.pem`), `PEM of ${name}\n`);
  }
  // Something to forward to: one listener stands in for every remote port.
  server = createServer((socket) => socket.end('hello'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  await tunnels.close();
  await new Promise((resolve) => server.close(resolve));
});

function record(id: string, kind: string, endpoints: SessionEndpoint[], raw = {}): SessionRecord {
  return fakeRecord(id, {
    template: kind,
    state: 'ready',
    sessionDir,
    connection: { kind, endpoints, raw: { kind, ...raw } },
  });
}

function attach(r: SessionRecord) {
  return attachEngine({
    record: r,
    transport,
    access: (name) => tunnels.access(r, transport, name),
    root: path.join(root, 'attach'),
  });
}

describe('attachEngine', () => {
  it('forwards a Dask scheduler and copies its TLS files privately', async () => {
    const r = record(
      's0000000000d1',
      'dask',
      [
        { name: 'scheduler', host: '127.0.0.1', port },
        { name: 'dashboard', host: '127.0.0.1', port, basePath: '/status' },
      ],
      { tls_server_name: '10.1.2.3' },
    );
    const a = await attach(r);
    expect(a.kind).toBe('dask');
    expect(statSync(a.directory).mode & 0o777).toBe(0o700);
    expect(statSync(path.dirname(a.directory)).mode & 0o777).toBe(0o700);
    const dask = a.dask;
    if (dask === undefined) throw new Error('no dask section');
    expect(dask.serverHostname).toBe('10.1.2.3');
    const m = /^tls:\/\/127\.0\.0\.1:(\d+)$/.exec(dask.address);
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).not.toBe(port);
    expect(dask.dashboardUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/status\/$/);
    for (const [file, name] of [
      [dask.tls.caFile, 'ca'],
      [dask.tls.certFile, 'cert'],
      [dask.tls.keyFile, 'key'],
    ] as const) {
      expect(readFileSync(file, 'utf8')).toBe(`PEM of ${name}\n`);
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
    expect(tunnels.openFor(r.id).sort()).toEqual(['dashboard', 'scheduler']);
    await removeAttachment(path.join(root, 'attach'), r.id);
    expect(existsSync(a.directory)).toBe(false);
  });

  it("rewrites ipyparallel's client file onto the forwards, keeping its key", async () => {
    const remotePorts = Object.fromEntries(CHANNELS.map((c, i) => [c, 50_000 + i]));
    const info = {
      ...remotePorts,
      key: 'the-key',
      curve_serverkey: 'c'.repeat(40),
      interface: 'tcp://10.1.2.3',
      location: '10.1.2.3',
      ssh: '',
      task_scheme: 'leastload',
    };
    mkdirSync(path.join(sessionDir, 'ipyparallel', 'security'), { recursive: true });
    writeFileSync(
      path.join(sessionDir, 'ipyparallel', 'security', 'ipcontroller-client.json'),
      JSON.stringify(info),
    );
    // Every channel's endpoint is forwarded to the stand-in listener under the same name.
    const published = CHANNELS.map((c) => ({
      name: ippEndpointName(c),
      host: '10.1.2.3',
      port: remotePorts[c] as number,
    }));
    const r = record('s0000000000e1', 'ipyparallel', published);
    const forwarded = { ...r, connection: { kind: 'ipyparallel', endpoints: published } };
    const a = await attachEngine({
      record: forwarded,
      transport,
      access: (name) => {
        const e = published.find((p) => p.name === name);
        if (e === undefined) throw new Error(`forward to unpublished ${name}`);
        return tunnels.access(
          {
            ...r,
            connection: { kind: 'ipyparallel', endpoints: [{ ...e, host: '127.0.0.1', port }] },
          },
          transport,
          name,
        );
      },
      root: path.join(root, 'attach'),
    });
    const file = a.ipyparallel?.connectionFile;
    if (file === undefined) throw new Error('no client file');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const local = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    expect(local).toMatchObject({
      key: 'the-key',
      curve_serverkey: 'c'.repeat(40),
      interface: 'tcp://127.0.0.1',
      location: '127.0.0.1',
      ssh: '',
      task_scheme: 'leastload',
    });
    for (const c of CHANNELS) expect(local[c]).not.toBe(remotePorts[c]);
    expect(new Set(CHANNELS.map((c) => local[c])).size).toBe(CHANNELS.length);
  });

  it('refuses an ipyparallel controller without CurveZMQ, forwarding nothing', async () => {
    mkdirSync(path.join(sessionDir, 'ipyparallel', 'security'), { recursive: true });
    writeFileSync(
      path.join(sessionDir, 'ipyparallel', 'security', 'ipcontroller-client.json'),
      JSON.stringify({ registration: 50_000, key: 'k', curve_serverkey: null }),
    );
    const r = record('s0000000000e2', 'ipyparallel', [
      { name: 'controller', host: '127.0.0.1', port },
    ]);
    await expect(attach(r)).rejects.toThrow(/without CurveZMQ/);
    await expect(attach(r)).rejects.toMatchObject({
      hint: expect.stringContaining('start a new ipyparallel session') as unknown,
    });
    expect(tunnels.openFor(r.id)).toEqual([]);
  });

  it("forwards a Spark Connect server and copies its token privately, named for pyspark's localhost rule", async () => {
    mkdirSync(path.join(sessionDir, 'spark'), { recursive: true });
    writeFileSync(path.join(sessionDir, 'spark', 'connect.token'), 'tok_EN-0123456789abcdef\n');
    const r = record('s0000000000c1', 'spark', [
      { name: 'master', host: '127.0.0.1', port },
      { name: 'connect', host: '127.0.0.1', port },
    ]);
    const a = await attach(r);
    const spark = a.spark;
    if (spark === undefined) throw new Error('no spark section');
    const m = /^sc:\/\/localhost:(\d+)$/.exec(spark.remote);
    expect(m).not.toBeNull();
    expect(Number(m?.[1])).not.toBe(port);
    expect(readFileSync(spark.tokenFile, 'utf8')).toBe('tok_EN-0123456789abcdef\n');
    expect(statSync(spark.tokenFile).mode & 0o777).toBe(0o600);
    // Only the Connect server is forwarded: the master takes the job's secret, not a token.
    expect(tunnels.openFor(r.id)).toEqual(['connect']);
    expect(JSON.stringify(a)).not.toContain('tok_EN');
  });

  it('refuses a Spark session without a Connect server, saying how to start one', async () => {
    const r = record('s0000000000c2', 'spark', [{ name: 'master', host: '127.0.0.1', port }]);
    await expect(attach(r)).rejects.toThrow(/without a Spark Connect server/);
    await expect(attach(r)).rejects.toMatchObject({
      hint: expect.stringContaining('connectServer=true') as unknown,
    });
  });

  it('refuses what is not an engine, or not ready', async () => {
    const jupyter = record('s0000000000f1', 'jupyter', [{ name: 'jupyter', host: 'n1', port: 1 }]);
    await expect(attach(jupyter)).rejects.toBeInstanceOf(InvalidInputError);
    const queued = { ...record('s0000000000f2', 'dask', []), state: 'queued' as const };
    await expect(attach(queued)).rejects.toBeInstanceOf(NotReadyError);
  });
});

describe('sparkRemote', () => {
  it('names a loopback forward "localhost" and refuses any other address', () => {
    expect(sparkRemote('127.0.0.1', 40123)).toBe('sc://localhost:40123');
    expect(sparkRemote('::1', 40123)).toBe('sc://localhost:40123');
    expect(() => sparkRemote('10.1.2.3', 40123)).toThrow(/not on loopback/);
  });
});

describe('ippRoutes', () => {
  const info = { registration: 1001, control: 1002, mux: 1003, key: 'k' };
  const endpoint = (name: string, p: number): SessionEndpoint => ({ name, host: 'n1', port: p });

  it('maps each port of the client file to the endpoint published for it', () => {
    const routes = ippRoutes(info, [
      endpoint('controller', 1001),
      endpoint('ipp-control', 1002),
      endpoint('ipp-mux', 1003),
    ]);
    expect(routes.map((r) => [r.channel, r.endpoint.name])).toEqual([
      ['registration', 'controller'],
      ['control', 'ipp-control'],
      ['mux', 'ipp-mux'],
    ]);
  });

  it('refuses a port the job did not publish, or published with another number', () => {
    expect(() =>
      ippRoutes(info, [endpoint('controller', 1001), endpoint('ipp-mux', 1003)]),
    ).toThrow(NotReadyError);
    expect(() =>
      ippRoutes(info, [
        endpoint('controller', 1001),
        endpoint('ipp-control', 9999),
        endpoint('ipp-mux', 1003),
      ]),
    ).toThrow(/"control" port/);
  });

  it('rewrites only addresses and ports', () => {
    const local = localIppClientInfo(
      { registration: 1, interface: 'tcp://10.0.0.1', location: 'n1', ssh: 'u@n1', key: 'k' },
      new Map([['registration', 4242]]),
      '127.0.0.1',
    );
    expect(local).toEqual({
      registration: 4242,
      interface: 'tcp://127.0.0.1',
      location: '127.0.0.1',
      ssh: '',
      key: 'k',
    });
  });
});
