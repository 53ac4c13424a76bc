/**
 * "Install profile as kernel": writes a Jupyter kernelspec whose argv runs the remote-kernel
 * launcher, `hpc-jupyter kernel --profile NAME -f {connection_file}`, so the profile shows under
 * "Jupyter Kernel..." in VS Code's picker (and in JupyterLab). Written here rather than by
 * `hpc-jupyter kernelspec install` because the bundled command runs with VS Code's Node, which
 * needs ELECTRON_RUN_AS_NODE in the kernelspec's env; the layout is the one the core's writer
 * uses: a unique name, an absolute argv[0], message interrupts, metadata naming the profile.
 */
import { execFile } from 'node:child_process';
import { access, mkdir, rename, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import type { Environment } from '@hpc-jupyter/core';
import type { ProfileInfo } from './profiles';

/** How to run `hpc-jupyter`: argv prefix and extra environment. */
export interface HpcCommand {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

export interface KernelspecJson {
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

/** Never `python3`: a profile's kernel must not shadow the local one. As the core names them. */
export function kernelspecName(profile: string): string {
  return `hpcj-${profile}`;
}

/** The same kernel.json as `hpc-jupyter kernelspec install` writes, for `command`. */
export function kernelspecJson(
  profile: ProfileInfo,
  command: HpcCommand,
  version: string,
): KernelspecJson {
  return {
    argv: [...command.argv, 'kernel', '--profile', profile.name, '-f', '{connection_file}'],
    display_name: profile.displayName,
    language: 'python',
    interrupt_mode: 'message',
    ...(Object.keys(command.env).length === 0 ? {} : { env: command.env }),
    metadata: {
      hpc_jupyter: {
        profile: profile.name,
        cluster: profile.cluster,
        template: profile.template,
        version,
      },
      debugger: false,
    },
  };
}

/** Jupyter's per-user data directory, where `jupyter kernelspec list` looks first. */
export function jupyterDataDir(env: Environment, home: string, platform: NodeJS.Platform): string {
  const own = env['JUPYTER_DATA_DIR'];
  if (own !== undefined && own !== '') return own;
  if (platform === 'darwin') return path.join(home, 'Library', 'Jupyter');
  const xdg = env['XDG_DATA_HOME'];
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'share');
  return path.join(base, 'jupyter');
}

/** Writes `<dataDir>/kernels/<name>/kernel.json` atomically; returns the kernelspec directory. */
export async function writeKernelspec(
  dataDir: string,
  name: string,
  spec: KernelspecJson,
): Promise<string> {
  const dir = path.join(dataDir, 'kernels', name);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, 'kernel.json');
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, file);
  return dir;
}

/** argv[0] as an absolute path (a kernelspec must not depend on Jupyter's PATH). */
export async function absoluteProgram(program: string, env: Environment): Promise<string> {
  if (path.isAbsolute(program)) return program;
  for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, program);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; look further.
    }
  }
  throw new Error(`Cannot find "${program}" on the PATH; set hpcJupyter.command to its full path.`);
}

/** True when this `hpc-jupyter` has the remote-kernel launcher (`hpc-jupyter kernel`). */
export function hasKernelLauncher(command: HpcCommand, env: Environment): Promise<boolean> {
  const [file, ...args] = command.argv;
  if (file === undefined) return Promise.resolve(false);
  return new Promise((resolve) => {
    execFile(
      file,
      [...args, '--help'],
      { env: { ...env, ...command.env }, timeout: 15_000 },
      (_error, stdout) => {
        resolve(/hpc-jupyter kernel\b/.test(stdout));
      },
    );
  });
}
