/**
 * The cluster-side working directory: `workdir` from the config (default `~/.hpc-jupyter`), with
 * `~` meaning the home directory on the cluster, resolved once per transport; and the check that
 * it, and the `sessions` directory below it (where every session's secrets live), are ours and
 * closed to everyone else before anything is written there.
 */
import { homedir } from 'node:os';
import { posix } from 'node:path';
import { CommandError, HpcError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import type { ClusterConfig } from '../config/types.js';

export const DEFAULT_WORKDIR = '~/.hpc-jupyter';
export const SESSIONS_DIR = 'sessions';

const homes = new WeakMap<Transport, Promise<string>>();
/** Per transport (one per connection to a cluster), the workdirs already checked. */
const checked = new WeakMap<Transport, Map<string, Promise<WorkdirReport>>>();

/** A workdir (or its sessions directory) that another user owns or may write into. */
export class UnsafeWorkdirError extends HpcError {
  override readonly name = 'UnsafeWorkdirError';
}

/** What the check found: the real owner and mode, and what it tightened. */
export interface WorkdirReport {
  readonly path: string;
  readonly owner: string;
  /** Permission bits after any repair, e.g. 0o700. */
  readonly mode: number;
  /** Directories that were ours but readable by others, with the mode they had. */
  readonly repaired: readonly { readonly path: string; readonly from: number }[];
}

/** Where a repair is reported: the agent's stderr is its log, the CLI's the terminal. */
export type WorkdirNotice = (message: string) => void;

const stderrNotice: WorkdirNotice = (message) => {
  process.stderr.write(`hpc-jupyter: ${message}\n`);
};

/** The home directory on the cluster side of a transport. */
export function remoteHome(transport: Transport, signal?: AbortSignal): Promise<string> {
  let home = homes.get(transport);
  if (home === undefined) {
    home =
      transport.kind === 'local'
        ? Promise.resolve(homedir())
        : transport
            .run(['printenv', 'HOME'], { ...(signal ? { signal } : {}), timeout: 30_000 })
            .then((r) => {
              const path = r.stdout.trim();
              if (r.code !== 0 || !path.startsWith('/')) {
                throw new CommandError(
                  `Could not find the home directory on ${transport.label}.`,
                  ['printenv', 'HOME'],
                  r.code,
                  r.stderr,
                  { hint: 'Set an absolute `workdir` for this cluster in its configuration.' },
                );
              }
              return path;
            });
    home.catch(() => homes.delete(transport));
    homes.set(transport, home);
  }
  return home;
}

/** The absolute working directory of a cluster, without creating or checking it. */
export async function workdirPath(
  config: ClusterConfig,
  transport: Transport,
  signal?: AbortSignal,
): Promise<string> {
  const configured = config.workdir ?? DEFAULT_WORKDIR;
  if (configured === '~' || configured.startsWith('~/')) {
    return posix.join(await remoteHome(transport, signal), configured.slice(1));
  }
  return configured;
}

/**
 * The absolute working directory of a cluster, created (0700) if missing and checked on the
 * first use per connection (see `checkWorkdir`); throws UnsafeWorkdirError when it is not safe.
 */
export async function ensureWorkdir(
  config: ClusterConfig,
  transport: Transport,
  signal?: AbortSignal,
  notice: WorkdirNotice = stderrNotice,
): Promise<string> {
  const path = await workdirPath(config, transport, signal);
  let byPath = checked.get(transport);
  if (byPath === undefined) {
    byPath = new Map();
    checked.set(transport, byPath);
  }
  let report = byPath.get(path);
  if (report === undefined) {
    report = checkWorkdir(config, transport, { notice, ...(signal ? { signal } : {}) });
    byPath.set(path, report);
    // A failed check is tried afresh next time: the user may have fixed it meanwhile.
    report.catch(() => byPath.delete(path));
  }
  return (await report).path;
}

/**
 * Creates the workdir (0700) if missing, then checks it and then its `sessions` directory
 * (created 0700 too): each must be a directory we own that no one else may write into; one that
 * is ours and merely readable by others is closed to 0700, and `notice` says so. The home
 * directory itself, used as the workdir, is left as it is (its mode is the user's and the site's
 * choice): the sessions directory below it is what must be private.
 */
export async function checkWorkdir(
  config: ClusterConfig,
  transport: Transport,
  options: { readonly signal?: AbortSignal; readonly notice?: WorkdirNotice } = {},
): Promise<WorkdirReport> {
  const { signal } = options;
  const notice = options.notice ?? stderrNotice;
  const path = await workdirPath(config, transport, signal);
  const sessions = posix.join(path, SESSIONS_DIR);
  // Looked at before anything is created: mkdir on some transports chmods an existing directory,
  // which would hide (or, for someone else's, fail on) exactly what is being checked.
  let [uid, top, below] = await statDirs(transport, [path, sessions], signal);
  if (top === undefined) {
    await transport.mkdir(path, { mode: 0o700, ...(signal ? { signal } : {}) });
    [uid, top, below] = await statDirs(transport, [path, sessions], signal);
  }
  const repaired: { path: string; from: number }[] = [];
  const home = transport.kind === 'local' ? homedir() : await remoteHome(transport, signal);
  const workdir = await judge(config, transport, path, uid, top, path !== home, signal);
  if (workdir.repairedFrom !== undefined) repaired.push({ path, from: workdir.repairedFrom });
  if (below === undefined) {
    await transport.mkdir(sessions, { mode: 0o700, ...(signal ? { signal } : {}) });
  } else {
    const result = await judge(config, transport, sessions, uid, below, true, signal);
    if (result.repairedFrom !== undefined)
      repaired.push({ path: sessions, from: result.repairedFrom });
  }
  for (const r of repaired) {
    notice(
      `${r.path} on ${transport.label} was readable by others (mode ${octal(r.from)}); set it to 0700.`,
    );
  }
  return { path, owner: top?.owner ?? String(uid), mode: workdir.mode, repaired };
}

interface DirStat {
  readonly uid: number;
  readonly owner: string;
  readonly mode: number;
  readonly isDirectory: boolean;
}

/** Our uid and, per path, its owner, mode and type (after symlinks), or undefined if missing. */
async function statDirs(
  transport: Transport,
  paths: readonly string[],
  signal?: AbortSignal,
): Promise<[number, ...(DirStat | undefined)[]]> {
  // One round trip. `stat -L`: a workdir may be a link to scratch space; what counts is the
  // directory the files land in.
  const script =
    'id -u; for p; do if [ -e "$p" ]; then stat -L -c "%u %a %U %F" -- "$p" || echo error; ' +
    'else echo missing; fi; done';
  const argv = ['sh', '-c', script, 'sh', ...paths];
  const result = await transport.run(argv, { ...(signal ? { signal } : {}), timeout: 30_000 });
  const lines = result.stdout.split('\n');
  const uid = Number(lines[0]);
  if (result.code !== 0 || !Number.isInteger(uid) || lines.length < paths.length + 1) {
    throw new CommandError(
      `Could not check the work directory ${paths[0] ?? ''} on ${transport.label}.`,
      argv,
      result.code,
      result.stderr,
      { hint: 'The cluster needs `sh`, `id` and GNU `stat` on the PATH.' },
    );
  }
  const stats = paths.map((p, i) => parseStat(lines[i + 1] ?? '', p, transport.label, argv));
  return [uid, ...stats];
}

/** Parses one `%u %a %U %F` line (exported for the unit test). */
export function parseStat(
  line: string,
  path: string,
  label: string,
  argv: readonly string[] = [],
): DirStat | undefined {
  if (line === 'missing') return undefined;
  const match = /^(\d+) ([0-7]+) (\S+) (.+)$/.exec(line);
  if (match === null) {
    throw new CommandError(
      `Could not read the owner and mode of ${path} on ${label}.`,
      argv,
      0,
      line,
    );
  }
  const [, uid = '', mode = '', owner = '', type = ''] = match;
  return {
    uid: Number(uid),
    owner,
    mode: parseInt(mode, 8) & 0o7777,
    isDirectory: type === 'directory',
  };
}

export function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/** What to do about one directory: nothing, close it to 0700, or refuse with what to run. */
export function verdict(
  stat: DirStat,
  uid: number,
  mayRepair: boolean,
): 'ok' | 'repair' | 'not-directory' | 'not-ours' | 'writable' {
  if (!stat.isDirectory) return 'not-directory';
  if (stat.uid !== uid) return 'not-ours';
  // Writable by others: someone may already have planted files or links in it; only the user
  // can tell, so it is refused rather than silently closed.
  if ((stat.mode & 0o022) !== 0) return 'writable';
  if ((stat.mode & 0o077) !== 0) return mayRepair ? 'repair' : 'ok';
  return 'ok';
}

async function judge(
  config: ClusterConfig,
  transport: Transport,
  path: string,
  uid: number,
  stat: DirStat | undefined,
  mayRepair: boolean,
  signal?: AbortSignal,
): Promise<{ mode: number; repairedFrom?: number }> {
  if (stat === undefined) {
    throw new UnsafeWorkdirError(`The work directory ${path} on ${transport.label} vanished.`, {
      hint: 'Run the command again.',
    });
  }
  const elsewhere = `set \`workdir\` for cluster ${config.name} in your configuration to a directory of yours (for example ~/.hpc-jupyter)`;
  const where = `${path} on ${transport.label}`;
  switch (verdict(stat, uid, mayRepair)) {
    case 'ok':
      return { mode: stat.mode & 0o777 };
    case 'not-directory':
      throw new UnsafeWorkdirError(`Refusing to use ${where}: it is not a directory.`, {
        hint: `Remove it, or ${elsewhere}.`,
      });
    case 'not-ours':
      throw new UnsafeWorkdirError(
        `Refusing to use ${where}: it belongs to ${stat.owner} (uid ${String(stat.uid)}), not to you (uid ${String(uid)}); whoever owns it could read or replace your sessions' secrets.`,
        { hint: `Choose another work directory: ${elsewhere}.` },
      );
    case 'writable':
      throw new UnsafeWorkdirError(
        `Refusing to use ${where}: its mode is ${octal(stat.mode)}, so other users may write into it.`,
        {
          hint: `Check that nothing in it is someone else's, then run \`chmod 700 ${path}\` on ${transport.label}; or ${elsewhere}.`,
        },
      );
    case 'repair': {
      const argv = ['chmod', '700', '--', path];
      const result = await transport.run(argv, { ...(signal ? { signal } : {}), timeout: 30_000 });
      if (result.code !== 0) {
        throw new CommandError(
          `Could not set ${where} to 0700.`,
          argv,
          result.code,
          result.stderr,
          {
            hint: `Run \`chmod 700 ${path}\` on ${transport.label}.`,
          },
        );
      }
      return { mode: 0o700, repairedFrom: stat.mode & 0o777 };
    }
  }
}
