/**
 * Resolves an SshTarget through ssh_config into the concrete hops to connect: HostName, User,
 * Port, IdentityFile (with `~` and `%` tokens), ProxyJump chains (each hop resolved through the
 * config too), known_hosts files, keepalive and timeouts. Explicit SshTarget fields win over the
 * config, as command-line options win over ssh_config for OpenSSH.
 */

import { hostname as localHostname, userInfo } from 'node:os';
import { isAbsolute, join } from 'node:path';

import type SSHConfig from 'ssh-config';

import { ConfigError, InvalidInputError } from '../errors.js';
import type { SshTarget } from './ssh-options.js';

/** One host to connect to, fully resolved. */
export interface ResolvedHost {
  /** The name the user wrote (an alias or a host name), for messages. */
  readonly alias: string;
  /** What to connect to (HostName). */
  readonly hostname: string;
  readonly port: number;
  readonly user: string;
  /** Name looked up in known_hosts: HostKeyAlias, else hostname. */
  readonly knownHostsName: string;
  /** Key files to try in order. */
  readonly identityFiles: readonly string[];
  /** No IdentityFile configured: also try ~/.ssh/id_ed25519, id_ecdsa, id_rsa if they exist. */
  readonly defaultIdentities: boolean;
  /** IdentitiesOnly: offer only agent keys that match an identity file. */
  readonly identitiesOnly: boolean;
  /** Read and appended to (the first); never empty. */
  readonly userKnownHostsFiles: readonly string[];
  readonly globalKnownHostsFiles: readonly string[];
  readonly hashKnownHosts: boolean;
  readonly keepaliveSeconds: number;
  readonly keepaliveCountMax: number;
  readonly connectTimeoutMs: number;
}

export interface ResolvedRoute {
  /** Jump hosts in connection order; empty for a direct connection. */
  readonly jumps: readonly ResolvedHost[];
  readonly target: ResolvedHost;
}

export interface ResolveContext {
  readonly config: SSHConfig;
  readonly homeDir: string;
  /** Overrides GlobalKnownHostsFile; tests use [] to stay away from /etc. */
  readonly globalKnownHostsFiles?: readonly string[];
}

const MAX_JUMPS = 8;
type Computed = Record<string, string | string[]>;

function first(c: Computed, key: string): string | undefined {
  const v = c[key];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === '' ? undefined : s;
}

function list(c: Computed, key: string): string[] {
  const v = c[key];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(/\s+/)).filter((s) => s !== '');
}

function localUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env['USER'] ?? 'root';
  }
}

/** ssh_config's `%` tokens and a leading `~`, for the tokens that have a meaning for us. */
export function expandTokens(
  text: string,
  t: { home: string; host: string; alias: string; user: string; port: number },
): string {
  const local = localUser();
  const expanded = text.replace(/%(.)/g, (all, c: string) => {
    switch (c) {
      case '%':
        return '%';
      case 'd':
        return t.home;
      case 'h':
        return t.host;
      case 'n':
        return t.alias;
      case 'p':
        return String(t.port);
      case 'r':
        return t.user;
      case 'u':
        return local;
      case 'i':
        return String(process.getuid?.() ?? 0);
      case 'l':
        return localHostname();
      case 'L':
        return localHostname().split('.')[0] ?? '';
      default:
        return all;
    }
  });
  if (expanded === '~') return t.home;
  if (expanded.startsWith('~/')) return join(t.home, expanded.slice(2));
  return expanded;
}

function parsePort(value: string | number | undefined, where: string): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    throw new InvalidInputError(`Invalid SSH port ${JSON.stringify(value)} for ${where}.`);
  }
  return n;
}

function seconds(value: string | undefined, fallback: number): number {
  const n = value === undefined ? NaN : Number(value);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}

interface HopSpec {
  readonly host: string;
  readonly user?: string;
  readonly port?: number;
}

/** Parses one ProxyJump element: `[user@]host[:port]`, `[user@][v6addr]:port` or `ssh://...`. */
export function parseJumpSpec(spec: string): HopSpec {
  const s = spec.trim().replace(/^ssh:\/\//, '');
  const at = s.lastIndexOf('@');
  const user = at >= 0 ? s.slice(0, at) : undefined;
  const rest = at >= 0 ? s.slice(at + 1) : s;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(rest) ?? /^([^:]+)(?::(\d+))?$/.exec(rest);
  if (m?.[1] === undefined || user === '') {
    throw new InvalidInputError(`Invalid ProxyJump host ${JSON.stringify(spec)}.`, {
      hint: 'Use [user@]host[:port], several separated by commas.',
    });
  }
  return { host: m[1], user, port: parsePort(m[2], `ProxyJump ${spec}`) };
}

function resolveHost(ctx: ResolveContext, spec: HopSpec, explicit: Partial<SshTarget>) {
  const c = ctx.config.compute(
    spec.user === undefined ? { Host: spec.host } : { Host: spec.host, User: spec.user },
    { ignoreCase: true, matchExec: false },
  ) as Computed;
  const user = explicit.user ?? spec.user ?? first(c, 'user') ?? localUser();
  const port =
    parsePort(explicit.port, spec.host) ??
    spec.port ??
    parsePort(first(c, 'port'), `Port of ${spec.host}`) ??
    22;
  const home = ctx.homeDir;
  const hostname = expandTokens(first(c, 'hostname') ?? spec.host, {
    home,
    host: spec.host,
    alias: spec.host,
    user,
    port,
  });
  const tok = { home, host: hostname, alias: spec.host, user, port };
  const path = (p: string) => {
    const e = expandTokens(p, tok);
    return isAbsolute(e) ? e : join(home, '.ssh', e);
  };
  const identity = list(c, 'identityfile').filter((f) => f.toLowerCase() !== 'none');
  const identityFiles =
    explicit.identityFile !== undefined ? [path(explicit.identityFile)] : identity.map(path);
  const userKnown =
    explicit.knownHostsFile !== undefined
      ? [path(explicit.knownHostsFile)]
      : list(c, 'userknownhostsfile')
          .filter((f) => f !== 'none')
          .map(path);
  const globalKnown =
    ctx.globalKnownHostsFiles ??
    (c['globalknownhostsfile'] !== undefined
      ? list(c, 'globalknownhostsfile')
          .filter((f) => f !== 'none')
          .map(path)
      : ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2']);
  const keepalive = explicit.keepaliveSeconds ?? seconds(first(c, 'serveraliveinterval'), 30);
  const connectTimeoutMs =
    explicit.connectTimeoutMs ?? seconds(first(c, 'connecttimeout'), 20) * 1000;
  const resolved: ResolvedHost = {
    alias: spec.host,
    hostname,
    port,
    user,
    knownHostsName: first(c, 'hostkeyalias') ?? hostname,
    identityFiles,
    defaultIdentities: identityFiles.length === 0,
    identitiesOnly: first(c, 'identitiesonly')?.toLowerCase() === 'yes',
    userKnownHostsFiles:
      userKnown.length > 0
        ? userKnown
        : [join(home, '.ssh', 'known_hosts'), join(home, '.ssh', 'known_hosts2')],
    globalKnownHostsFiles: globalKnown,
    hashKnownHosts: first(c, 'hashknownhosts')?.toLowerCase() === 'yes',
    keepaliveSeconds: keepalive,
    keepaliveCountMax: seconds(first(c, 'serveralivecountmax'), 3),
    connectTimeoutMs: connectTimeoutMs > 0 ? connectTimeoutMs : 20_000,
  };
  return { resolved, proxyJump: first(c, 'proxyjump') };
}

function splitJumps(value: string | undefined): string[] {
  if (value === undefined || value.trim().toLowerCase() === 'none') return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/**
 * The route to the target. For `ProxyJump a,b` OpenSSH connects to a (honouring a's own
 * ProxyJump), then b through a (b's own ProxyJump is replaced by the chain), then the target.
 */
export function resolveRoute(target: SshTarget, ctx: ResolveContext): ResolvedRoute {
  if (target.host.trim() === '' || /[\s@]/.test(target.host)) {
    throw new InvalidInputError(`Invalid SSH host ${JSON.stringify(target.host)}.`, {
      hint: 'Give a host name or an alias from ~/.ssh/config; set the user separately.',
    });
  }
  const { resolved, proxyJump } = resolveHost(ctx, { host: target.host }, target);
  const jumps = chain(splitJumps(target.proxyJump ?? proxyJump), ctx, target, 0);
  return { jumps, target: resolved };
}

function chain(
  specs: readonly string[],
  ctx: ResolveContext,
  target: SshTarget,
  depth: number,
): ResolvedHost[] {
  if (specs.length === 0) return [];
  if (depth + specs.length > MAX_JUMPS) {
    throw new ConfigError(
      `ProxyJump chain for ${target.host} is longer than ${MAX_JUMPS} hops (a loop?).`,
      target.configFile ?? '~/.ssh/config',
      undefined,
      'ProxyJump',
    );
  }
  const hops: ResolvedHost[] = [];
  specs.forEach((spec, i) => {
    const explicit =
      target.knownHostsFile === undefined ? {} : { knownHostsFile: target.knownHostsFile };
    const { resolved, proxyJump } = resolveHost(ctx, parseJumpSpec(spec), explicit);
    if (i === 0) hops.push(...chain(splitJumps(proxyJump), ctx, target, depth + specs.length));
    hops.push(withExtraIdentity(resolved, target, ctx));
  });
  return hops;
}

/** Jump hosts may also accept the key given explicitly for the target; try it after theirs. */
function withExtraIdentity(
  hop: ResolvedHost,
  target: SshTarget,
  ctx: ResolveContext,
): ResolvedHost {
  if (target.identityFile === undefined) return hop;
  const extra = expandTokens(target.identityFile, {
    home: ctx.homeDir,
    host: hop.hostname,
    alias: hop.alias,
    user: hop.user,
    port: hop.port,
  });
  if (hop.identityFiles.includes(extra)) return hop;
  return { ...hop, identityFiles: [...hop.identityFiles, extra] };
}
