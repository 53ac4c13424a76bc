/**
 * Finds, reads and merges the config files into the clusters and profiles in effect.
 *
 * Precedence, lowest first: the site directory (`/etc/hpc-jupyter/clusters.d/*.yaml`, in name
 * order), then the user's file (`$XDG_CONFIG_HOME/hpc-jupyter/clusters.yaml`, default
 * `~/.config/...`). A cluster or profile defined again in a later file replaces the earlier
 * definition as a whole: keys are not merged, so a user's `testlab` never inherits half of the
 * site's. `HPC_JUPYTER_CONFIG` (a file, or a directory of *.yaml) replaces both sources. The
 * built-in `local` cluster sits below everything, so any file may redefine it.
 *
 * Nothing here throws for a bad file: unreadable files, syntax errors and invalid entries become
 * `problems`, and an invalid entry is skipped, so a same-name entry from a lower source (or the
 * built-in `local`) stays in effect. Missing files are normal and not reported.
 */

import { readdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AbortedError, type ConfigError, throwIfAborted } from '../errors.js';
import { configProblem, parseConfigText, type ParsedConfigFile } from './parse.js';
import {
  CONFIG_ENV_VAR,
  configOverride,
  type Environment,
  isConfigFileName,
  SITE_CONFIG_DIR,
  tildify,
  userConfigPath,
} from './paths.js';
import {
  BUILTIN_SOURCE,
  type LoadedCluster,
  type LoadedConfig,
  type LoadedProfile,
} from './types.js';

export interface LoadConfigOptions {
  /** Default: process.env. */
  readonly env?: Environment;
  /** This machine's home directory. Default: os.homedir(). */
  readonly homedir?: string;
  /** Default: /etc/hpc-jupyter/clusters.d. */
  readonly siteDir?: string;
  readonly signal?: AbortSignal;
}

/** The cluster that always exists: jobs as processes on this machine, no SSH, no batch system. */
export const BUILTIN_LOCAL_CLUSTER: LoadedCluster = Object.freeze({
  name: 'local',
  title: 'This computer',
  scheduler: 'local',
  source: BUILTIN_SOURCE,
});

export async function loadConfig(options: LoadConfigOptions = {}): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const home = options.homedir ?? os.homedir();
  const { signal } = options;
  const problems: ConfigError[] = [];
  const files = await configFiles(env, home, options.siteDir ?? SITE_CONFIG_DIR, problems, signal);

  const parsed: ParsedConfigFile[] = [];
  for (const file of files) {
    throwIfAborted(signal);
    const text = await readConfigFile(file, home, problems, signal);
    if (text === undefined) continue;
    parsed.push(parseConfigText(text, file, { displayPath: tildify(file, home) }));
  }
  const merged = mergeConfigFiles(parsed, home);
  return {
    ...merged,
    clusters: withLocalPython(merged.clusters, env.HPC_JUPYTER_PYTHON),
    problems: [...problems, ...merged.problems],
  };
}

/**
 * The built-in `local` cluster runs jobs with `python3` from the PATH unless HPC_JUPYTER_PYTHON
 * names another interpreter (the Python environment `scripts/install` made, say). A `local`
 * cluster defined in a file keeps its own `python`.
 */
function withLocalPython(
  clusters: ReadonlyMap<string, LoadedCluster>,
  python: string | undefined,
): ReadonlyMap<string, LoadedCluster> {
  if (python === undefined || python === '' || clusters.get('local') !== BUILTIN_LOCAL_CLUSTER) {
    return clusters;
  }
  return new Map([...clusters, ['local', { ...BUILTIN_LOCAL_CLUSTER, python }]]);
}

/**
 * Merges parsed files, lowest precedence first, on top of the built-in `local` cluster, then
 * drops profiles whose cluster is not defined anywhere (a listed problem each).
 */
export function mergeConfigFiles(parsed: readonly ParsedConfigFile[], home = ''): LoadedConfig {
  const clusters = new Map<string, LoadedCluster>([['local', BUILTIN_LOCAL_CLUSTER]]);
  const profiles = new Map<string, LoadedProfile>();
  const invalidClusters = new Set<string>();
  const problems: ConfigError[] = [];
  for (const file of parsed) {
    problems.push(...file.problems);
    for (const [name, cluster] of file.clusters) clusters.set(name, cluster);
    for (const [name, profile] of file.profiles) profiles.set(name, profile);
    for (const name of file.invalidClusters) invalidClusters.add(name);
  }
  const linesByFile = new Map(parsed.map((p) => [p.file, p.lines]));
  for (const [name, profile] of profiles) {
    if (clusters.has(profile.cluster)) continue;
    profiles.delete(name);
    const segments = ['profiles', name, 'cluster'];
    const line = linesByFile.get(profile.source)?.lineOf(segments) ?? profile.line;
    const why = invalidClusters.has(profile.cluster)
      ? `which has errors (listed separately)`
      : `which is not defined in any config file`;
    const known = [...clusters.keys()].join(', ');
    problems.push(
      configProblem(
        tildify(profile.source, home),
        profile.source,
        line,
        segments,
        `profiles.${name}.cluster names cluster '${profile.cluster}', ${why}`,
        `Known clusters: ${known}.`,
      ),
    );
  }
  return { clusters, profiles, problems, sources: parsed.map((p) => p.file) };
}

/** The config files to read, in precedence order (lowest first). */
async function configFiles(
  env: Environment,
  home: string,
  siteDir: string,
  problems: ConfigError[],
  signal: AbortSignal | undefined,
): Promise<string[]> {
  const override = configOverride(env, home);
  if (override === undefined) {
    const site = await listDir(siteDir, home, problems, signal, false);
    return [...site, userConfigPath(env, home)];
  }
  let isDir: boolean;
  try {
    isDir = (await stat(override)).isDirectory();
  } catch (error) {
    rethrowAbort(error, signal);
    const text = `${CONFIG_ENV_VAR} names ${override}, which ${describeFsError(error)}`;
    problems.push(
      configProblem(tildify(override, home), override, undefined, undefined, text, unsetHint()),
    );
    return [];
  }
  return isDir ? listDir(override, home, problems, signal, true) : [override];
}

async function listDir(
  dir: string,
  home: string,
  problems: ConfigError[],
  signal: AbortSignal | undefined,
  mustExist: boolean,
): Promise<string[]> {
  throwIfAborted(signal);
  try {
    const names = await readdir(dir);
    // Code-point order, not locale order, so every machine reads the files the same way.
    return names
      .filter(isConfigFileName)
      .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
      .map((n) => path.join(dir, n));
  } catch (error) {
    rethrowAbort(error, signal);
    if (!mustExist && isMissing(error)) return [];
    const text = `cannot list config directory: ${describeFsError(error)}`;
    problems.push(configProblem(tildify(dir, home), dir, undefined, undefined, text));
    return [];
  }
}

async function readConfigFile(
  file: string,
  home: string,
  problems: ConfigError[],
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  try {
    return await readFile(file, { encoding: 'utf8', signal });
  } catch (error) {
    rethrowAbort(error, signal);
    if (isMissing(error)) return undefined;
    const text = `cannot read config file: ${describeFsError(error)}`;
    const hint = 'Check the file permissions, or move the file away.';
    problems.push(configProblem(tildify(file, home), file, undefined, undefined, text, hint));
    return undefined;
  }
}

function rethrowAbort(error: unknown, signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortedError(undefined, { cause: error });
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function describeFsError(error: unknown): string {
  switch (errorCode(error)) {
    case 'ENOENT':
      return 'does not exist';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a file';
    default:
      return error instanceof Error ? error.message : String(error);
  }
}

function unsetHint(): string {
  return `Point ${CONFIG_ENV_VAR} at a YAML file or a directory of them, or unset it.`;
}
