/**
 * Where configuration lives on this machine, and `~` handling. Everything takes the environment
 * and home directory as arguments so tests and embedders never touch the real machine's files.
 */

import path from 'node:path';

export const SITE_CONFIG_DIR = '/etc/hpc-jupyter/clusters.d';
export const CONFIG_ENV_VAR = 'HPC_JUPYTER_CONFIG';

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Expands a leading `~` or `~/` to `home`. Other forms (`~user/...`) are returned unchanged:
 * config paths are used on this machine, where we only know our own home.
 */
export function expandHome(p: string, home: string): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return path.join(home, p.slice(2));
  return p;
}

/** The reverse, for messages: `/home/ada/.config/x` -> `~/.config/x`. */
export function tildify(p: string, home: string): string {
  if (home === '' || home === '/') return p;
  if (p === home) return '~';
  const prefix = home.endsWith('/') ? home : `${home}/`;
  return p.startsWith(prefix) ? `~/${p.slice(prefix.length)}` : p;
}

/**
 * `$XDG_CONFIG_HOME/hpc-jupyter/clusters.yaml`, or `~/.config/...`. The XDG spec says a relative
 * XDG_CONFIG_HOME is invalid and must be ignored, which also keeps the result independent of cwd.
 */
export function userConfigPath(env: Environment, home: string): string {
  const xdg = env['XDG_CONFIG_HOME'];
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, '.config');
  return path.join(base, 'hpc-jupyter', 'clusters.yaml');
}

/** The override from HPC_JUPYTER_CONFIG, or undefined when unset or empty. */
export function configOverride(env: Environment, home: string): string | undefined {
  const value = env[CONFIG_ENV_VAR];
  if (value === undefined || value.trim() === '') return undefined;
  return path.resolve(expandHome(value, home));
}

/** Config files in a directory are the *.yaml and *.yml files, in code-point order of name. */
export function isConfigFileName(name: string): boolean {
  return (name.endsWith('.yaml') || name.endsWith('.yml')) && !name.startsWith('.');
}
