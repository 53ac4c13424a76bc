/**
 * The SSH transport against the test cluster's real OpenSSH login node: host keys (unknown, then
 * accepted; changed), a wrong user key, SFTP modes, a dropped connection, and port forwarding.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  AuthenticationError,
  HostKeyChangedError,
  HostKeyUnknownError,
} from '../../packages/core/src/errors.js';
import type { HostKeyPrompt, SshPrompter } from '../../packages/core/src/transport/ssh-options.js';
import type { SshTransport } from '../../packages/core/src/transport/ssh.js';
import type { ClusterConfig } from '../../packages/core/src/config/types.js';
import {
  decliningPrompter,
  slurmFor,
  sshTransportFor,
  testCluster,
  waitFor,
  type TestCluster,
} from './support.js';

let cluster: TestCluster;
const opened: SshTransport[] = [];

beforeAll(async () => {
  cluster = await testCluster();
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((t) => t.close()));
});

function open(config: ClusterConfig, prompter: SshPrompter = decliningPrompter): SshTransport {
  const t = sshTransportFor(config, prompter);
  opened.push(t);
  return t;
}

function withSsh(patch: Partial<NonNullable<ClusterConfig['ssh']>>): ClusterConfig {
  const ssh = cluster.testlab.ssh;
  if (ssh === undefined) throw new Error('testlab has no ssh');
  return { ...cluster.testlab, ssh: { ...ssh, ...patch } };
}

describe('SSH transport against OpenSSH', () => {
  it('refuses an unknown host key until the prompt accepts it, then remembers it', async () => {
    const knownHosts = join(mkdtempSync(join(tmpdir(), 'hpcj-kh-')), 'known_hosts');
    const asked: HostKeyPrompt[] = [];
    let accept = false;
    const prompter: SshPrompter = {
      ...decliningPrompter,
      unknownHostKey: (req) => {
        asked.push(req);
        return Promise.resolve(accept);
      },
    };
    const config = withSsh({ knownHostsFile: knownHosts });
    await expect(open(config, prompter).run(['true'])).rejects.toBeInstanceOf(HostKeyUnknownError);
    expect(asked).toHaveLength(1);
    expect(asked[0]?.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);

    accept = true;
    const result = await open(config, prompter).run(['echo', 'accepted']);
    expect(result.stdout).toBe('accepted\n');
    expect(readFileSync(knownHosts, 'utf8')).toContain('ssh-ed25519');

    const before = asked.length;
    expect((await open(config, prompter).run(['true'])).code).toBe(0);
    expect(asked).toHaveLength(before);
  });

  it('refuses a changed host key and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcj-kh-'));
    const knownHosts = join(dir, 'known_hosts');
    // The real entry with its key swapped for another valid ed25519 key: a changed host key.
    const real =
      readFileSync(cluster.testlab.ssh?.knownHostsFile ?? '', 'utf8')
        .trim()
        .split('\n')[0] ?? '';
    const otherKey =
      readFileSync(`${cluster.other.ssh?.identityFile ?? ''}.pub`, 'utf8').split(' ')[1] ?? '';
    const fields = real.split(' ');
    writeFileSync(knownHosts, `${fields[0] ?? ''} ssh-ed25519 ${otherKey}\n`);
    const error: unknown = await open(withSsh({ knownHostsFile: knownHosts }))
      .run(['true'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HostKeyChangedError);
    expect((error as Error).message.toLowerCase()).toContain('changed');
    expect((error as Error).message).toContain(knownHosts);
  });

  it('rejects a wrong user key with a clear message', async () => {
    const error: unknown = await open(
      withSsh({ identityFile: cluster.other.ssh?.identityFile ?? '' }),
    )
      .run(['true'])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AuthenticationError);
    const message = (error as Error).message;
    expect(message).toContain(cluster.env.HPCJ_TEST_USER ?? 'hpcjtest');
    expect(message).toContain('127.0.0.1');
  });

  it('re-establishes a dropped connection on the next command', async () => {
    const t = open(cluster.testlab);
    // The remote shell's parent is sshd's per-connection user process; its parent, the
    // privileged monitor, owns the TCP connection. Ending the monitor drops the connection.
    const ids = async (): Promise<number[]> =>
      (await t.run(['sh', '-c', 'echo $PPID $(ps -o ppid= -p $PPID)'])).stdout
        .trim()
        .split(/\s+/)
        .map(Number);
    const [sessionPid, monitorPid] = await ids();
    expect(monitorPid).toBeGreaterThan(1);
    process.kill(monitorPid ?? 0, 'SIGTERM');
    await new Promise((r) => setTimeout(r, 1000));
    const [newSessionPid] = await ids();
    expect(newSessionPid).toBeGreaterThan(1);
    expect(newSessionPid).not.toBe(sessionPid);
  });

  it('carries hostile arguments through the remote shell intact', async () => {
    const t = open(cluster.testlab);
    const hostile = [
      'a b',
      "it's",
      '$(touch /tmp/pwned)',
      '`id`',
      'x;y|z&',
      'new\nline',
      'ünï✓',
      '',
      '*',
    ];
    const result = await t.run(['printf', '%s\\0', ...hostile]);
    expect(result.stdout.split('\0').slice(0, -1)).toEqual(hostile);
  });

  it('writes files atomically with explicit modes over SFTP', async () => {
    const t = open(cluster.testlab);
    const home = (await t.run(['printenv', 'HOME'])).stdout.trim();
    const dir = `${home}/e2e-sftp-${Date.now()}`;
    await t.mkdir(`${dir}/a/b`, { mode: 0o700 });
    await t.writeFileAtomic(`${dir}/a/b/secret`, 'top secret\n', { mode: 0o600 });
    await t.writeFileAtomic(`${dir}/a/b/secret`, 'replaced\n', { mode: 0o600 });
    expect((await t.readFile(`${dir}/a/b/secret`)).toString()).toBe('replaced\n');
    const modes = (await t.run(['stat', '-c', '%a %n', `${dir}/a/b`, `${dir}/a/b/secret`])).stdout;
    expect(modes).toBe(`700 ${dir}/a/b\n600 ${dir}/a/b/secret\n`);
    expect((await t.run(['ls', '-A', `${dir}/a/b`])).stdout).toBe('secret\n');
    await t.run(['rm', '-rf', dir]);
  });

  it('forwards a local port to a service in a job on a compute node', async () => {
    const t = open(cluster.testlab);
    // The compute nodes (10.77.0.11-14) have no route from this namespace: only the tunnel
    // through the login node reaches them, as it will reach a Jupyter server in a job.
    await inJobOnNode(
      t,
      'exec python3 -m http.server "$port" --bind "$addr" --directory "$HOME"',
      async (address, port) => {
        const forward = await t.forward(address, port);
        try {
          let status = 0;
          const deadline = Date.now() + 20_000;
          while (status !== 200) {
            status = await fetch(`http://${forward.localHost}:${forward.localPort}/`, {
              signal: AbortSignal.timeout(3000),
            }).then(
              (r) => r.status,
              () => 0,
            );
            if (Date.now() > deadline) throw new Error('no answer through the forward in 20 s');
            if (status !== 200) await new Promise((r) => setTimeout(r, 300));
          }
          expect(status).toBe(200);
        } finally {
          await forward.close();
        }
      },
    );
  });

  it('through a jump host, a reply in two small writes does not wait for a delayed ACK', async () => {
    // The login node is its own jump host: its sshd also listens on 127.0.0.1:22 inside the
    // cluster, with the same host key. The jump connection only forwards; unless its sshd was
    // made to turn Nagle off, it holds the second write until this side ACKs the first (~40 ms).
    const ssh = cluster.testlab.ssh;
    if (ssh?.knownHostsFile === undefined) throw new Error('testlab has no known_hosts file');
    const line = readFileSync(ssh.knownHostsFile, 'utf8').split('\n')[0] ?? '';
    const knownHosts = join(mkdtempSync(join(tmpdir(), 'hpcj-kh-')), 'known_hosts');
    writeFileSync(knownHosts, `${line}\n127.0.0.1 ${line.split(' ').slice(1).join(' ')}\n`);
    const t = open(
      withSsh({
        host: '127.0.0.1',
        port: 22,
        knownHostsFile: knownHosts,
        proxyJump: `${ssh.user ?? 'hpcjtest'}@127.0.0.1:${String(ssh.port ?? 22)}`,
      }),
    );
    const server = [
      'exec python3 -c "',
      'import socket, sys, time',
      's = socket.create_server((sys.argv[1], int(sys.argv[2])))',
      'c = s.accept()[0]',
      'c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)',
      'while c.recv(100):',
      "    c.sendall(b'a'); time.sleep(0.002); c.sendall(b'b')",
      '" "$addr" "$port"',
    ].join('\n');
    await inJobOnNode(t, server, async (address, port) => {
      const forward = await t.forward(address, port);
      const socket = await connectWithRetry(forward.localHost, forward.localPort);
      try {
        const times: number[] = [];
        for (let i = 0; i < 40; i++) {
          const start = performance.now();
          await exchange(socket, 2);
          times.push(performance.now() - start);
        }
        times.sort((a, b) => a - b);
        // With Nagle on at the jump host every round trip takes about 40 ms; without, a few.
        expect(
          times[20],
          `round trips (ms): ${times.map((v) => v.toFixed(1)).join(' ')}`,
        ).toBeLessThan(20);
      } finally {
        socket.destroy();
        await forward.close();
      }
    });
  });
});

/**
 * Runs SERVER (bash; $addr and $port set to the node's address and a port) as a Slurm job on a
 * compute node, calls use(address, port) once the job runs, and cancels the job.
 */
async function inJobOnNode(
  t: SshTransport,
  server: string,
  use: (address: string, port: number) => Promise<void>,
): Promise<void> {
  const slurm = slurmFor(t);
  const home = (await t.run(['printenv', 'HOME'])).stdout.trim();
  const port = 20_000 + Math.floor(Math.random() * 10_000);
  const addressFile = `${home}/e2e-forward-${port}.addr`;
  const id = await slurm.submit({
    script: [
      '#!/bin/bash',
      'addr=$(hostname -I | cut -d" " -f1)',
      `port=${port}`,
      `echo "$addr" > ${addressFile}`,
      server,
      '',
    ].join('\n'),
    resources: { name: 'hpcj-e2e-forward', walltimeMinutes: 5, workdir: home, output: '/dev/null' },
  });
  try {
    await waitFor(slurm, id, (s) => s.state === 'starting');
    let address = '';
    for (let i = 0; i < 50 && address === ''; i++) {
      address = await t.readFile(addressFile).then(
        (b) => b.toString().trim(),
        () => '',
      );
      if (address === '') await new Promise((r) => setTimeout(r, 200));
    }
    expect(address).toMatch(/^10\.77\.0\.1[1-4]$/);
    await use(address, port);
  } finally {
    await slurm.cancel([id]);
    await t.remove(addressFile);
  }
}

/** A TCP connection to a forwarded port whose far end may still be starting. */
async function connectWithRetry(host: string, port: number): Promise<Socket> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const socket = createConnection({ host, port, noDelay: true });
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => {
        resolve(true);
      });
      socket.once('error', () => {
        resolve(false);
      });
    });
    // The tunnel accepts before the far end does; a first exchange proves the service is there.
    if (
      ok &&
      (await exchange(socket, 2, 2000).then(
        () => true,
        () => false,
      ))
    )
      return socket;
    socket.destroy();
    if (Date.now() > deadline) throw new Error(`nothing answered at ${host}:${port} in 20 s`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Sends one byte and waits for `bytes` bytes back. */
function exchange(socket: Socket, bytes: number, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = 0;
    const timer = setTimeout(() => {
      done(new Error(`no reply in ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onData = (chunk: Buffer): void => {
      got += chunk.length;
      if (got >= bytes) done();
    };
    const onClose = (): void => {
      done(new Error('the connection closed'));
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.write('x');
  });
}
