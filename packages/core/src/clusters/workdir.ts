/**
 * The cluster-side working directory: `workdir` from the config (default `~/.hpc-jupyter`), with
 * `~` meaning the home directory on the cluster, resolved once per transport.
 */
import { homedir } from 'node:os';
import { posix } from 'node:path';
import { CommandError } from '../errors.js';
import type { Transport } from '../transport/types.js';
import type { ClusterConfig } from '../config/types.js';

export const DEFAULT_WORKDIR = '~/.hpc-jupyter';

const homes = new WeakMap<Transport, Promise<string>>();

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

/** The absolute working directory of a cluster, created (0700) if missing. */
export async function ensureWorkdir(
  config: ClusterConfig,
  transport: Transport,
  signal?: AbortSignal,
): Promise<string> {
  const configured = config.workdir ?? DEFAULT_WORKDIR;
  let path = configured;
  if (configured === '~' || configured.startsWith('~/')) {
    path = posix.join(await remoteHome(transport, signal), configured.slice(1));
  }
  await transport.mkdir(path, { mode: 0o700, ...(signal ? { signal } : {}) });
  return path;
}
