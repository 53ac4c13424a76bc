import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.js';
import { loadSshConfig, parseSshConfig } from './ssh-config-load.js';
import { expandTokens, parseJumpSpec, resolveRoute, type ResolveContext } from './ssh-config.js';

const HOME = '/home/tester';

function ctx(text: string): ResolveContext {
  return { config: parseSshConfig(text, 'cfg'), homeDir: HOME, globalKnownHostsFiles: [] };
}

const CONFIG = `
Host cluster
  HostName login.cluster.example.org
  User alice
  Port 2222
  IdentityFile ~/.ssh/id_cluster
  IdentityFile %d/keys/%r@%h
  ProxyJump bastion
  UserKnownHostsFile ~/.ssh/kh_cluster /etc/kh2
  ServerAliveInterval 15
  ConnectTimeout 7
  HashKnownHosts yes

Host bastion
  Hostname gw.example.org
  user bob
  IdentitiesOnly yes
  IdentityFile ~/.ssh/id_bastion

Host inner
  HostName 10.1.2.3
  ProxyJump alice@gw2:2022,bastion

Host gw2
  ProxyJump outer

Host direct
  HostKeyAlias direct-alias
  ProxyJump none

Host *
  User defaultuser
  IdentityFile ~/.ssh/id_all
`;

describe('resolveRoute', () => {
  it('applies HostName, User, Port, IdentityFile tokens and options of a Host alias', () => {
    const { target, jumps } = resolveRoute({ host: 'cluster' }, ctx(CONFIG));
    expect(target).toMatchObject({
      alias: 'cluster',
      hostname: 'login.cluster.example.org',
      user: 'alice',
      port: 2222,
      knownHostsName: 'login.cluster.example.org',
      identityFiles: [
        `${HOME}/.ssh/id_cluster`,
        `${HOME}/keys/alice@login.cluster.example.org`,
        `${HOME}/.ssh/id_all`,
      ],
      defaultIdentities: false,
      userKnownHostsFiles: [`${HOME}/.ssh/kh_cluster`, '/etc/kh2'],
      hashKnownHosts: true,
      keepaliveSeconds: 15,
      keepaliveCountMax: 3,
      connectTimeoutMs: 7000,
    });
    expect(jumps).toHaveLength(1);
    expect(jumps[0]).toMatchObject({
      alias: 'bastion',
      hostname: 'gw.example.org',
      user: 'bob',
      port: 22,
      identitiesOnly: true,
      identityFiles: [`${HOME}/.ssh/id_bastion`, `${HOME}/.ssh/id_all`],
    });
  });

  it('lets explicit target fields override the config', () => {
    const { target, jumps } = resolveRoute(
      {
        host: 'cluster',
        user: 'carol',
        port: 22,
        identityFile: '~/.ssh/explicit',
        proxyJump: 'none',
        knownHostsFile: '/tmp/kh',
        keepaliveSeconds: 0,
        connectTimeoutMs: 1234,
      },
      ctx(CONFIG),
    );
    expect(jumps).toEqual([]);
    expect(target).toMatchObject({
      user: 'carol',
      port: 22,
      identityFiles: [`${HOME}/.ssh/explicit`],
      userKnownHostsFiles: ['/tmp/kh'],
      keepaliveSeconds: 0,
      connectTimeoutMs: 1234,
    });
  });

  it('uses defaults for an unknown host', () => {
    const { target, jumps } = resolveRoute({ host: 'plain.example.org' }, ctx(''));
    expect(jumps).toEqual([]);
    expect(target).toMatchObject({
      hostname: 'plain.example.org',
      port: 22,
      user: userInfo().username,
      identityFiles: [],
      defaultIdentities: true,
      userKnownHostsFiles: [`${HOME}/.ssh/known_hosts`, `${HOME}/.ssh/known_hosts2`],
      keepaliveSeconds: 30,
      connectTimeoutMs: 20_000,
    });
  });

  it('resolves a jump chain, honouring only the first hop’s own ProxyJump', () => {
    const { target, jumps } = resolveRoute(
      { host: 'inner' },
      ctx(`Host outer\n  Port 2200\n${CONFIG}`),
    );
    expect(target.hostname).toBe('10.1.2.3');
    expect(jumps.map((j) => `${j.user}@${j.hostname}:${j.port}`)).toEqual([
      'defaultuser@outer:2200',
      'alice@gw2:2022',
      'bob@gw.example.org:22',
    ]);
  });

  it('uses HostKeyAlias for known_hosts and an explicit knownHostsFile for hops too', () => {
    expect(resolveRoute({ host: 'direct' }, ctx(CONFIG)).target.knownHostsName).toBe(
      'direct-alias',
    );
    const route = resolveRoute({ host: 'cluster', knownHostsFile: '/k' }, ctx(CONFIG));
    expect(route.jumps[0]?.userKnownHostsFiles).toEqual(['/k']);
  });

  it('detects ProxyJump loops', () => {
    const loop = 'Host a\n  ProxyJump b\nHost b\n  ProxyJump a\n';
    expect(() => resolveRoute({ host: 'a' }, ctx(loop))).toThrow(/ProxyJump chain/);
  });

  it('rejects bad hosts and ports', () => {
    expect(() => resolveRoute({ host: 'u@h' }, ctx(''))).toThrow(InvalidInputError);
    expect(() => resolveRoute({ host: 'h', port: 70000 }, ctx(''))).toThrow(InvalidInputError);
    expect(() => resolveRoute({ host: 'h' }, ctx('Host h\n  Port x\n'))).toThrow(InvalidInputError);
  });
});

describe('parseJumpSpec and expandTokens', () => {
  it('parses the ProxyJump forms', () => {
    expect(parseJumpSpec('gw')).toEqual({ host: 'gw', user: undefined, port: undefined });
    expect(parseJumpSpec('u@gw:2200')).toEqual({ host: 'gw', user: 'u', port: 2200 });
    expect(parseJumpSpec('ssh://u@gw:2200')).toEqual({ host: 'gw', user: 'u', port: 2200 });
    expect(parseJumpSpec('u@[::1]:2200')).toEqual({ host: '::1', user: 'u', port: 2200 });
    expect(() => parseJumpSpec('@gw')).toThrow(InvalidInputError);
    expect(() => parseJumpSpec('gw:notaport')).toThrow(InvalidInputError);
  });

  it('expands tokens', () => {
    const t = { home: '/h', host: 'H', alias: 'A', user: 'R', port: 22 };
    expect(expandTokens('~/x/%h-%n-%r-%p-%%-%d', t)).toBe('/h/x/H-A-R-22-%-/h');
    expect(expandTokens('%u', t)).toBe(userInfo().username);
    expect(expandTokens('%Z', t)).toBe('%Z');
  });
});

describe('loadSshConfig', () => {
  it('reads user then system config and expands Include with globs', async () => {
    const home = mkdtempSync(join(tmpdir(), 'hpcj-sshcfg-'));
    mkdirSync(join(home, '.ssh', 'config.d'), { recursive: true });
    writeFileSync(
      join(home, '.ssh', 'config'),
      'Include config.d/*.conf\nHost cluster\n  Include ~/.ssh/inner\n  Port 2201\n',
    );
    writeFileSync(join(home, '.ssh', 'config.d', 'a.conf'), 'Host gw\n  User gwuser\n');
    writeFileSync(join(home, '.ssh', 'config.d', 'b.txt'), 'Host gw\n  User wrong\n');
    writeFileSync(join(home, '.ssh', 'inner'), 'User fromInclude\n');
    const system = join(home, 'system_config');
    writeFileSync(system, 'User systemuser\nHashKnownHosts yes\nPort 9\n');
    const loaded = await loadSshConfig({
      userFile: join(home, '.ssh', 'config'),
      systemFile: system,
      homeDir: home,
    });
    const c = { config: loaded.config, homeDir: home, globalKnownHostsFiles: [] };
    const cluster = resolveRoute({ host: 'cluster' }, c).target;
    // The Include inside Host cluster applies to it; the line after the Include still does.
    expect([cluster.user, cluster.port, cluster.hashKnownHosts]).toEqual([
      'fromInclude',
      2201,
      true,
    ]);
    const gw = resolveRoute({ host: 'gw' }, c).target;
    expect([gw.user, gw.port]).toEqual(['gwuser', 9]);
    expect(resolveRoute({ host: 'other' }, c).target.user).toBe('systemuser');
    expect(loaded.files).toHaveLength(4);
  });

  it('treats missing files as empty', async () => {
    const loaded = await loadSshConfig({
      userFile: '/nonexistent/config',
      systemFile: null,
      homeDir: '/nonexistent',
    });
    expect(loaded.files).toEqual([]);
  });
});
