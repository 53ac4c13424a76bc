/**
 * Faults for the fault-matrix tests, made in the network, not in our own sockets. The test
 * cluster's login (127.0.0.1:2222) is shared by every test on this machine, so a test that cuts
 * the network gets a path of its own to the same sshd, through a router namespace of its own:
 * this machine (10.78.0.1) - `hpcjf-mid` (10.78.0.2 | 10.78.0.5) - head (10.78.0.6), where head's
 * sshd listens on 10.77.0.1:22, routed through it; and a copy of the config that logs in that
 * way. `cut()` makes the router drop every packet it forwards, both ways (a zero-length queue on
 * its two links): every connection on the path, new ones included, as when a laptop's Wi-Fi or a
 * VPN goes away. The ends are not told (no local drop), so TCP backs off as on a real network.
 * `heal()` lets the packets through again.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);
const HEAD_NS = process.env['HPCJ_HEAD_NETNS'] ?? 'hpcj-head';
const MID_NS = 'hpcjf-mid';
const HEAD_SSHD = '10.77.0.1';

export interface CuttablePath {
  /** The config copy whose clusters log in over this path. */
  readonly configFile: string;
  /** Drops every packet on the path, both ways. */
  cut(): Promise<void>;
  /** Lets them through again. */
  heal(): Promise<void>;
  /** Removes the router namespace, its links and the route. */
  close(): Promise<void>;
}

async function run(argv: readonly string[]): Promise<void> {
  const [program = '', ...args] = argv;
  await execFileP(program, args, { timeout: 10_000 });
}

/** `argv` in a network namespace (nsenter: `ip netns exec` would remount /sys). */
function inNs(ns: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=/run/netns/${ns}`, ...argv];
}

/**
 * Makes the path and writes `<dir>/faults.yaml` (from `configFile`, logging in at 10.77.0.1:22)
 * and `<dir>/known_hosts` (the login's keys under that address).
 */
export async function cuttablePath(configFile: string, dir: string): Promise<CuttablePath> {
  const close = async (): Promise<void> => {
    // Deleting the namespace deletes its links, and with them their peers and the routes.
    await run(['ip', 'netns', 'del', MID_NS]).catch(() => undefined);
  };
  // A router left by a killed run of this file goes first.
  await close();
  const mid = (argv: readonly string[]): string[] => inNs(MID_NS, argv);
  const head = (argv: readonly string[]): string[] => inNs(HEAD_NS, argv);
  try {
    await run(['ip', 'netns', 'add', MID_NS]);
    await run(['ip', 'link', 'add', 'hpcjf-r', 'type', 'veth', 'peer', 'name', 'hpcjf-m1']);
    await run(['ip', 'link', 'set', 'hpcjf-m1', 'netns', MID_NS]);
    await run(mid(['ip', 'link', 'add', 'hpcjf-m2', 'type', 'veth', 'peer', 'name', 'hpcjf-h']));
    await run(mid(['ip', 'link', 'set', 'hpcjf-h', 'netns', HEAD_NS]));
    await run(['ip', 'addr', 'add', '10.78.0.1/30', 'dev', 'hpcjf-r']);
    await run(['ip', 'link', 'set', 'hpcjf-r', 'up']);
    await run(mid(['ip', 'addr', 'add', '10.78.0.2/30', 'dev', 'hpcjf-m1']));
    await run(mid(['ip', 'addr', 'add', '10.78.0.5/30', 'dev', 'hpcjf-m2']));
    await run(mid(['ip', 'link', 'set', 'hpcjf-m1', 'up']));
    await run(mid(['ip', 'link', 'set', 'hpcjf-m2', 'up']));
    await run(mid(['sysctl', '-qw', 'net.ipv4.ip_forward=1']));
    await run(mid(['ip', 'route', 'add', `${HEAD_SSHD}/32`, 'via', '10.78.0.6']));
    await run(head(['ip', 'addr', 'add', '10.78.0.6/30', 'dev', 'hpcjf-h']));
    await run(head(['ip', 'link', 'set', 'hpcjf-h', 'up']));
    await run(head(['ip', 'route', 'add', '10.78.0.0/30', 'via', '10.78.0.5']));
    await run(['ip', 'route', 'replace', `${HEAD_SSHD}/32`, 'via', '10.78.0.2', 'dev', 'hpcjf-r']);
  } catch (error) {
    await close();
    throw error;
  }
  const config = readFileSync(configFile, 'utf8');
  const knownFrom = /knownHostsFile: (\S+)/.exec(config)?.[1];
  if (knownFrom === undefined) throw new Error(`${configFile} names no knownHostsFile`);
  const known = readFileSync(knownFrom, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('[127.0.0.1]:2222 '))
    .map((line) => line.replace('[127.0.0.1]:2222 ', `${HEAD_SSHD} `));
  if (known.length === 0) throw new Error(`${knownFrom} has no key for [127.0.0.1]:2222`);
  const knownFile = `${dir}/known_hosts`;
  writeFileSync(knownFile, `${known.join('\n')}\n`, { mode: 0o600 });
  const faultsConfig = `${dir}/faults.yaml`;
  writeFileSync(
    faultsConfig,
    config
      .replaceAll('host: 127.0.0.1', `host: ${HEAD_SSHD}`)
      .replaceAll('port: 2222', 'port: 22')
      .replaceAll(`knownHostsFile: ${knownFrom}`, `knownHostsFile: ${knownFile}`),
    { mode: 0o600 },
  );
  // A queue that holds nothing: the router drops each packet it would send on.
  const queue = (verb: 'add' | 'del'): Promise<unknown> =>
    Promise.all(
      ['hpcjf-m1', 'hpcjf-m2'].map((link) =>
        run(mid(['tc', 'qdisc', verb, 'dev', link, 'root', ...(verb === 'add' ? ZERO_QUEUE : [])])),
      ),
    );
  return {
    configFile: faultsConfig,
    cut: async () => {
      await queue('add');
    },
    heal: async () => {
      await queue('del');
    },
    close,
  };
}

const ZERO_QUEUE = ['pfifo', 'limit', '0'];
