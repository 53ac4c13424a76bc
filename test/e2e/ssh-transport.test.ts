/**
 * The SSH transport against the test cluster's real OpenSSH login node: host keys (unknown, then
 * accepted; changed), a wrong user key, SFTP modes, a dropped connection, and port forwarding.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
    const slurm = slurmFor(t);
    const home = (await t.run(['printenv', 'HOME'])).stdout.trim();
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    // The compute nodes (10.77.0.11-14) have no route from this namespace: only the tunnel
    // through the login node reaches them, as it will reach a Jupyter server in a job.
    const addressFile = `${home}/e2e-forward-${port}.addr`;
    const id = await slurm.submit({
      script: [
        '#!/bin/bash',
        'addr=$(hostname -I | cut -d" " -f1)',
        `echo "$addr" > ${addressFile}`,
        `exec python3 -m http.server ${port} --bind "$addr" --directory "$HOME"`,
        '',
      ].join('\n'),
      resources: {
        name: 'hpcj-e2e-forward',
        walltimeMinutes: 5,
        workdir: home,
        output: '/dev/null',
      },
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
    } finally {
      await slurm.cancel([id]);
      await t.remove(addressFile);
    }
  });
});
