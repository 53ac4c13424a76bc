/**
 * Profiles as Jupyter kernelspecs: what the kernel.json says (a unique name, an absolute argv
 * that runs the launcher, interrupts as messages, metadata naming the profile) and where it goes
 * so that Jupyter finds it (`jupyter kernelspec list`): the user's Jupyter data directory, the
 * Python environment's (`--sys-prefix`) or any prefix. Only kernelspecs we made are listed or
 * removed.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Environment } from '../config/paths.js';
import type { ProfileConfig } from '../config/types.js';
import { HpcError, NotFoundError } from '../errors.js';

export const KERNELSPEC_PREFIX = 'hpcj-';
const execFileP = promisify(execFile);

/** Where to install: the user's data dir, the Python environment's, or a prefix. */
export type SpecLocation =
  | { readonly kind: 'user' }
  | { readonly kind: 'sys-prefix'; readonly python?: string }
  | { readonly kind: 'prefix'; readonly prefix: string };

export interface KernelSpecJson {
  readonly argv: readonly string[];
  readonly display_name: string;
  readonly language: 'python';
  readonly interrupt_mode: 'message';
  readonly env?: Readonly<Record<string, string>>;
  readonly metadata: {
    readonly hpc_jupyter: {
      readonly profile: string;
      readonly cluster: string;
      readonly template: string;
      readonly version: string;
    };
    readonly debugger: false;
  };
}

export interface InstalledSpec {
  readonly name: string;
  readonly dir: string;
  readonly spec: KernelSpecJson;
}

export function kernelSpecName(profile: string): string {
  return `${KERNELSPEC_PREFIX}${profile}`;
}

/** The launcher's entry point, absolute: the kernelspec runs it with this Node. */
export function launcherScript(): string {
  return fileURLToPath(new URL('./kernel-main.js', import.meta.url));
}

export function buildKernelSpec(
  profile: ProfileConfig,
  options: { readonly version: string; readonly env?: Environment },
): KernelSpecJson {
  // The kernel reads the same configuration the install did, if that was not the default.
  const config = options.env?.['HPC_JUPYTER_CONFIG'];
  return {
    argv: [
      process.execPath,
      launcherScript(),
      'kernel',
      '--profile',
      profile.name,
      '-f',
      '{connection_file}',
    ],
    display_name: profile.displayName,
    language: 'python',
    interrupt_mode: 'message',
    ...(config === undefined || config === ''
      ? {}
      : { env: { HPC_JUPYTER_CONFIG: path.resolve(config) } }),
    metadata: {
      hpc_jupyter: {
        profile: profile.name,
        cluster: profile.cluster,
        template: profile.template,
        version: options.version,
      },
      debugger: false,
    },
  };
}

/** `jupyter_data_dir()` of jupyter_core: JUPYTER_DATA_DIR, else $XDG_DATA_HOME/jupyter. */
export function jupyterUserDataDir(env: Environment, home = os.homedir()): string {
  const explicit = env['JUPYTER_DATA_DIR'];
  if (explicit !== undefined && explicit !== '') return explicit;
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg !== undefined && xdg !== '' ? xdg : path.join(home, '.local', 'share');
  return path.join(base, 'jupyter');
}

/** The Python environment's prefix: VIRTUAL_ENV, CONDA_PREFIX, else what `python` says. */
export async function pythonPrefix(env: Environment, python?: string): Promise<string> {
  if (python === undefined) {
    for (const name of ['VIRTUAL_ENV', 'CONDA_PREFIX']) {
      const value = env[name];
      if (value !== undefined && value !== '') return value;
    }
  }
  const exe = python ?? 'python3';
  try {
    const { stdout } = await execFileP(exe, ['-c', 'import sys; print(sys.prefix)'], {
      timeout: 20_000,
      env: { ...env },
    });
    return stdout.trim();
  } catch (error) {
    throw new HpcError(`Could not ask ${exe} for its sys.prefix.`, {
      cause: error,
      hint: 'Activate the Python environment that runs Jupyter, or use --user or --prefix.',
    });
  }
}

/** The Jupyter data directory (holding `kernels/`) for a location. */
export async function dataDirFor(location: SpecLocation, env: Environment): Promise<string> {
  switch (location.kind) {
    case 'user':
      return jupyterUserDataDir(env);
    case 'sys-prefix':
      return path.join(await pythonPrefix(env, location.python), 'share', 'jupyter');
    case 'prefix':
      return path.join(path.resolve(location.prefix), 'share', 'jupyter');
  }
}

/** Every data directory Jupyter looks in, most specific first (as `jupyter --paths`). */
export function jupyterDataDirs(env: Environment, extra: readonly string[] = []): string[] {
  const dirs = [...extra];
  for (const entry of (env['JUPYTER_PATH'] ?? '').split(path.delimiter)) {
    if (entry !== '') dirs.push(entry);
  }
  dirs.push(jupyterUserDataDir(env));
  for (const name of ['VIRTUAL_ENV', 'CONDA_PREFIX']) {
    const value = env[name];
    if (value !== undefined && value !== '') dirs.push(path.join(value, 'share', 'jupyter'));
  }
  dirs.push('/usr/local/share/jupyter', '/usr/share/jupyter');
  return [...new Set(dirs.map((d) => path.resolve(d)))];
}

/** Writes `<dataDir>/kernels/<name>/kernel.json`, replacing an earlier one as a whole. */
export async function installKernelSpec(
  dataDir: string,
  name: string,
  spec: KernelSpecJson,
): Promise<string> {
  const kernels = path.join(dataDir, 'kernels');
  await mkdir(kernels, { recursive: true });
  const target = path.join(kernels, name);
  // Outside kernels/, where Jupyter would list a half-made spec (its names may contain dots).
  const tmp = path.join(dataDir, `.hpcj-${name}.${process.pid}.tmp`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await writeFile(path.join(tmp, 'kernel.json'), `${JSON.stringify(spec, null, 2)}\n`);
  const old = path.join(dataDir, `.hpcj-${name}.${process.pid}.old`);
  const replaced = await rename(target, old).then(
    () => true,
    () => false,
  );
  await rename(tmp, target);
  if (replaced) await rm(old, { recursive: true, force: true });
  return target;
}

/** Our kernelspecs in the given data directories (the first of a name wins, as in Jupyter). */
export async function listKernelSpecs(dataDirs: readonly string[]): Promise<InstalledSpec[]> {
  const found = new Map<string, InstalledSpec>();
  for (const dataDir of dataDirs) {
    const kernels = path.join(dataDir, 'kernels');
    const names = await readdir(kernels).catch(() => [] as string[]);
    for (const name of names.sort()) {
      if (found.has(name) || name.startsWith('.')) continue;
      const dir = path.join(kernels, name);
      const spec = await readOurSpec(dir);
      if (spec !== undefined) found.set(name, { name, dir, spec });
    }
  }
  return [...found.values()];
}

/** Removes our kernelspec NAME (or `hpcj-NAME`) wherever it is found; returns the dirs removed. */
export async function removeKernelSpec(
  name: string,
  dataDirs: readonly string[],
): Promise<string[]> {
  const wanted = name.startsWith(KERNELSPEC_PREFIX) ? name : kernelSpecName(name);
  const removed: string[] = [];
  for (const dataDir of dataDirs) {
    const dir = path.join(dataDir, 'kernels', wanted);
    if ((await readOurSpec(dir)) === undefined) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  if (removed.length === 0) {
    throw new NotFoundError(`No hpc-jupyter kernelspec named ${wanted}.`, {
      hint: 'See `hpc-jupyter kernelspec list`.',
    });
  }
  return removed;
}

async function readOurSpec(dir: string): Promise<KernelSpecJson | undefined> {
  try {
    const text = await readFile(path.join(dir, 'kernel.json'), 'utf8');
    const spec = JSON.parse(text) as { metadata?: { hpc_jupyter?: { profile?: unknown } } };
    return typeof spec.metadata?.hpc_jupyter?.profile === 'string'
      ? (spec as KernelSpecJson)
      : undefined;
  } catch {
    return undefined;
  }
}
