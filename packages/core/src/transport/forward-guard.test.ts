// The two guards on every local forward: a connection from another uid is closed before anything
// is opened upstream, and a forward with `tls` carries its connections in mutual TLS (the job's
// relay's side played by a Node TLS server that demands the client certificate), checking the
// server's certificate against the given name, not the address it dials.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalTransport } from './local.js';
import { startFake } from './ssh-fake-server.testutil.js';
import { LocalForward } from './ssh-forward.js';
import type { ForwardTls, PortForward } from './types.js';

const VENV_PYTHON = join(process.env['HPC_JUPYTER_VENV'] ?? '/opt/hpc-jupyter/venv', 'bin/python');
const OTHER = 'hpcjother';

let dir: string;
let material: ForwardTls;
let foreign: ForwardTls;
let server: tls.Server;
let serverPort: number;
/** What the TLS server saw of each client: whether its certificate was the job's. */
const seen: boolean[] = [];
const cleanups: (() => Promise<void>)[] = [];

/** A job's TLS files as hpc_jupyter.tls makes them, for the node "node7" at 127.0.0.1. */
function makeTls(at: string): ForwardTls {
  execFileSync(VENV_PYTHON, ['-m', 'hpc_jupyter.tls', at, '127.0.0.1', 'node7']);
  const read = (f: string): Buffer => readFileSync(join(at, f));
  return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem'), serverName: 'node7' };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hpcj-forward-guard-'));
  material = makeTls(join(dir, 'job'));
  foreign = makeTls(join(dir, 'other'));
  server = tls.createServer(
    {
      ca: material.ca,
      cert: material.cert,
      key: material.key,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
    },
    (socket) => {
      seen.push(socket.authorized);
      socket.pipe(socket);
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverPort = (server.address() as net.AddressInfo).port;
});

afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
  seen.length = 0;
});

/** Sends "ping" through the forward; resolves with what came back before the socket closed. */
function ping(port: number): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.write('ping'));
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got === 'ping') socket.end();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      resolve(got);
    });
    setTimeout(() => socket.destroy(), 5000).unref();
  });
}

/** As `ping`, run as the second user (root only): what the other user got through the port. */
function pingAsOther(port: number): string {
  const js = `const s=require('net').connect(${port},'127.0.0.1',()=>s.write('ping'));let g='';s.on('data',d=>{g+=d});s.on('error',()=>{});s.on('close',()=>{process.stdout.write(JSON.stringify(g))});setTimeout(()=>s.destroy(),5000)`;
  return JSON.parse(
    execFileSync('runuser', ['-u', OTHER, '--', process.execPath, '-e', js], { encoding: 'utf8' }),
  ) as string;
}

const canSwitchUser = process.getuid?.() === 0 && existsSync('/usr/sbin/runuser');

describe.each(['local', 'ssh'] as const)('a %s forward', (kind) => {
  async function forwardTo(port: number, withTls?: ForwardTls): Promise<PortForward> {
    if (kind === 'local') {
      const transport = new LocalTransport();
      cleanups.push(() => transport.close());
      return transport.forward('127.0.0.1', port, withTls === undefined ? {} : { tls: withTls });
    }
    const { transport } = await startFake(cleanups);
    return transport.forward('127.0.0.1', port, withTls === undefined ? {} : { tls: withTls });
  }

  it('speaks mutual TLS upstream with the session certificate, plain locally', async () => {
    const forward = await forwardTo(serverPort, material);
    expect(await ping(forward.localPort)).toBe('ping');
    expect(seen).toEqual([true]);
  });

  it('gets nothing through with a certificate of another CA', async () => {
    const forward = await forwardTo(serverPort, foreign);
    expect(await ping(forward.localPort)).toBe('');
  });

  it('gets nothing through when the certificate does not carry the expected name', async () => {
    const forward = await forwardTo(serverPort, { ...material, serverName: 'node8' });
    expect(await ping(forward.localPort)).toBe('');
    // TLS 1.3: the client checks the server's certificate before it sends its own.
    expect(seen).toEqual([]);
  });

  it('refuses plain connections from anyone but its own user', async () => {
    const echo = net.createServer((s) => s.pipe(s));
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise((resolve) => {
          echo.close(() => {
            resolve();
          });
        }),
    );
    let accepted = 0;
    echo.on('connection', () => {
      accepted++;
    });
    const forward = await forwardTo((echo.address() as net.AddressInfo).port);
    expect(await ping(forward.localPort)).toBe('ping');
    expect(accepted).toBe(1);
    if (canSwitchUser) {
      expect(pingAsOther(forward.localPort)).toBe('');
      expect(accepted).toBe(1);
    }
  });
});

describe('LocalForward', () => {
  it('closes a peer of another uid before asking for the SSH connection, and logs its uid', async () => {
    const messages: string[] = [];
    let asked = 0;
    const me = process.getuid?.() ?? 0;
    const forward = await LocalForward.listen({
      remoteHost: '127.0.0.1',
      remotePort: 1,
      localPort: 0,
      host: 'test',
      connection: () => {
        asked++;
        return Promise.reject(new Error('not here'));
      },
      debug: (m) => messages.push(m),
      ownerUid: me + 1,
    });
    cleanups.push(() => forward.close());
    expect(await ping(forward.localPort)).toBe('');
    expect(asked).toBe(0);
    expect(messages.join('\n')).toMatch(
      new RegExp(
        `refused a connection from 127\\.0\\.0\\.1:\\d+ \\(peer uid ${me}, not ${me + 1}\\)`,
      ),
    );
  });
});
