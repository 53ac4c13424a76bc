/**
 * Host-key checking through the fake login node: unknown keys asked about and remembered,
 * changed and revoked keys refused, hashed entries, and ProxyJump hops checked too.
 */

import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it, vi } from 'vitest';

import { HostKeyChangedError, HostKeyRevokedError, HostKeyUnknownError } from '../errors.js';
import { hashHostName } from './known-hosts-parse.js';
import { sha256Fingerprint } from './known-hosts.js';
import {
  declining,
  FakeLoginNode,
  generateUserKey,
  startFake,
  type FakeServerOptions,
} from './ssh-fake-server.testutil.js';
import type { HostKeyPrompt, SshPrompter, SshTarget, SshTransportOptions } from './ssh-options.js';
import { SshTransport } from './ssh.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((fn) => fn()));
});

function setup(
  server: FakeServerOptions = {},
  target: Partial<SshTarget> = {},
  options: SshTransportOptions = {},
) {
  return startFake(cleanups, server, target, options);
}

function hostKeyBlob(server: FakeLoginNode): Buffer {
  return Buffer.from(server.hostKeyLine.split(' ')[1] ?? '', 'base64');
}

function recordingPrompter(answer: () => boolean): {
  prompter: SshPrompter;
  asked: HostKeyPrompt[];
} {
  const asked: HostKeyPrompt[] = [];
  return {
    asked,
    prompter: {
      ...declining,
      unknownHostKey: (req) => {
        asked.push(req);
        return Promise.resolve(answer());
      },
    },
  };
}

describe('unknown host keys', () => {
  it('refuses until the prompter accepts, then records the key and asks no more', async () => {
    let accept = false;
    const { prompter, asked } = recordingPrompter(() => accept);
    const { transport, server, dir } = await setup({}, {}, { prompter });
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(knownHosts, '');
    const err = await transport.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyUnknownError);
    expect(asked).toEqual([
      {
        host: '127.0.0.1',
        port: server.port,
        keyType: 'ssh-ed25519',
        fingerprint: sha256Fingerprint(hostKeyBlob(server)),
      },
    ]);
    expect(readFileSync(knownHosts, 'utf8')).toBe('');
    expect(server.authAttempts).toEqual([]); // refused before any credential was sent

    accept = true;
    expect((await transport.run(['echo', 'ok'])).stdout).toBe('ok\n');
    expect(readFileSync(knownHosts, 'utf8')).toBe(
      `[127.0.0.1]:${server.port} ${server.hostKeyLine}\n`,
    );

    const again = new SshTransport(transport.target, {
      prompter,
      agentSocket: null,
      systemConfigFile: null,
      globalKnownHostsFiles: [],
      homeDir: dir,
    });
    cleanups.push(() => again.close());
    expect((await again.run(['echo', 'again'])).stdout).toBe('again\n');
    expect(asked).toHaveLength(2);
  });

  it('creates a missing known_hosts file 0600 in a 0700 directory', async () => {
    const { prompter } = recordingPrompter(() => true);
    const { transport, dir } = await setup({}, {}, { prompter });
    const file = join(dir, 'new', 'known_hosts');
    const t = new SshTransport(
      { ...transport.target, knownHostsFile: file },
      {
        prompter,
        agentSocket: null,
        systemConfigFile: null,
        globalKnownHostsFiles: [],
        homeDir: dir,
      },
    );
    cleanups.push(() => t.close());
    await t.run(['true']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'new')).mode & 0o777).toBe(0o700);
  });

  it('fails without a prompter instead of trusting the key', async () => {
    const { transport, dir } = await setup({}, {}, { prompter: undefined });
    writeFileSync(join(dir, 'known_hosts'), '');
    await expect(transport.run(['true'])).rejects.toBeInstanceOf(HostKeyUnknownError);
  });

  it('accepts a key from a read-only global file and a hashed entry', async () => {
    const { transport, server, dir } = await setup();
    const global = join(dir, 'global_known_hosts');
    writeFileSync(global, `${hashHostName(`[127.0.0.1]:${server.port}`)} ${server.hostKeyLine}\n`);
    writeFileSync(join(dir, 'known_hosts'), '');
    const t = new SshTransport(transport.target, {
      prompter: declining,
      agentSocket: null,
      systemConfigFile: null,
      globalKnownHostsFiles: [global],
      homeDir: dir,
    });
    cleanups.push(() => t.close());
    expect((await t.run(['echo', 'hashed'])).stdout).toBe('hashed\n');
  });
});

describe('changed and revoked keys', () => {
  it('refuses a changed key, saying CHANGED, the new fingerprint and the old line', async () => {
    const { prompter, asked } = recordingPrompter(() => true);
    const { transport, server, dir } = await setup({}, {}, { prompter });
    const impostor = generateUserKey().public.split(' ');
    const knownHosts = join(dir, 'known_hosts');
    writeFileSync(
      knownHosts,
      `# first line\n[127.0.0.1]:${server.port} ${impostor[0] ?? ''} ${impostor[1] ?? ''}\n`,
    );
    const err = await transport.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyChangedError);
    const e = err as HostKeyChangedError;
    expect(e.message).toContain('CHANGED');
    expect(e.message.toLowerCase()).toContain('changed');
    expect(e.message).toContain(sha256Fingerprint(hostKeyBlob(server)));
    expect(e.message).toContain(`${knownHosts} line 2`);
    expect(e.hint).toContain('administrators');
    expect(e.hint).toContain(`ssh-keygen -R '[127.0.0.1]:${server.port}' -f '${knownHosts}'`);
    expect(asked).toEqual([]); // never offered to accept a changed key
    expect(server.authAttempts).toEqual([]);
  });

  it('refuses a revoked key even when it is also listed as known', async () => {
    const { transport, server, dir } = await setup();
    writeFileSync(
      join(dir, 'known_hosts'),
      `[127.0.0.1]:${server.port} ${server.hostKeyLine}\n@revoked * ${server.hostKeyLine}\n`,
    );
    const err = await transport.run(['true']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostKeyRevokedError);
    expect((err as Error).message).toContain('line 2');
  });
});

describe('ProxyJump', () => {
  it('connects through a jump host from ssh config, checking both host keys', async () => {
    const { transport: direct, server: jump, dir, publicKey } = await setup();
    const target = await new FakeLoginNode({ authorizedKeys: [publicKey] }).start();
    cleanups.push(() => target.stop());
    const config = join(dir, 'config');
    writeFileSync(
      config,
      [
        'Host cluster',
        '  HostName 127.0.0.1',
        `  Port ${target.port}`,
        '  ProxyJump gateway',
        'Host gateway',
        '  HostName 127.0.0.1',
        `  Port ${jump.port}`,
        'Host *',
        '  User tester',
        `  IdentityFile ${join(dir, 'id')}`,
        '',
      ].join('\n'),
    );
    // Only the jump host is known: the target's key must be asked about.
    const { prompter, asked } = recordingPrompter(() => true);
    const t = new SshTransport(
      { host: 'cluster', configFile: config, knownHostsFile: join(dir, 'known_hosts') },
      {
        prompter,
        agentSocket: null,
        systemConfigFile: null,
        globalKnownHostsFiles: [],
        homeDir: dir,
      },
    );
    cleanups.push(() => t.close());
    expect((await t.run(['echo', 'through'])).stdout).toBe('through\n');
    expect(asked.map((a) => a.port)).toEqual([target.port]);
    expect(jump.connections).toBe(1);
    expect(target.connections).toBe(1);
    // The jump host runs nothing of ours but `true`, which makes its sshd turn Nagle off.
    await vi.waitFor(() => {
      expect(jump.commands).toEqual(['true']);
    });
    expect(target.commands).toEqual(['echo through']);
    expect(t.label).toBe('tester@cluster');
    await direct.close();
  });

  it('refuses a jump host whose key changed', async () => {
    const { server: jump, dir, publicKey } = await setup();
    const target = await new FakeLoginNode({ authorizedKeys: [publicKey] }).start();
    cleanups.push(() => target.stop());
    const impostor = generateUserKey().public;
    writeFileSync(
      join(dir, 'known_hosts'),
      `[127.0.0.1]:${jump.port} ${impostor}\n[127.0.0.1]:${target.port} ${target.hostKeyLine}\n`,
    );
    const t = new SshTransport(
      {
        host: '127.0.0.1',
        port: target.port,
        user: 'tester',
        identityFile: join(dir, 'id'),
        proxyJump: `tester@127.0.0.1:${jump.port}`,
        knownHostsFile: join(dir, 'known_hosts'),
        configFile: null,
      },
      {
        prompter: declining,
        agentSocket: null,
        systemConfigFile: null,
        globalKnownHostsFiles: [],
        homeDir: dir,
      },
    );
    cleanups.push(() => t.close());
    await expect(t.run(['true'])).rejects.toBeInstanceOf(HostKeyChangedError);
    expect(target.connections).toBe(0);
  });
});
