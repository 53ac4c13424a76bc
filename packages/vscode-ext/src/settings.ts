/**
 * The extension's settings and what follows from them: which `hpc-jupyter` runs the agent and
 * the remote kernels. By default that is the copy bundled in the extension (dist/hpc-jupyter.js,
 * the core's CLI with its templates and schema beside it), run by VS Code's own Node.js; inside
 * VS Code that is Electron, which behaves as plain Node only with ELECTRON_RUN_AS_NODE=1.
 */
import type * as vscode from 'vscode';
import type { HpcCommand } from './kernelspec';

export const SECTION = 'hpcJupyter';

export interface Settings {
  /** `hpcJupyter.command`: empty for the bundled copy. */
  readonly command: readonly string[];
  readonly walltimeWarningMinutes: number;
}

export function readSettings(vs: typeof vscode): Settings {
  const config = vs.workspace.getConfiguration(SECTION);
  const command = config.get<unknown>('command', []);
  const minutes = config.get<unknown>('walltimeWarningMinutes', 10);
  return {
    command: Array.isArray(command)
      ? command.filter((c): c is string => typeof c === 'string')
      : [],
    walltimeWarningMinutes: typeof minutes === 'number' && minutes >= 0 ? minutes : 10,
  };
}

/** Where this extension host runs, for the bundled command. */
export interface Runtime {
  /** process.execPath: node, or VS Code's Electron binary. */
  readonly execPath: string;
  /** True inside Electron (process.versions.electron is set). */
  readonly isElectron: boolean;
  /** Absolute path of the bundled CLI, `<extension>/dist/hpc-jupyter.js`. */
  readonly bundledCli: string;
}

export function hpcCommand(settings: Settings, runtime: Runtime): HpcCommand {
  if (settings.command.length > 0) return { argv: settings.command, env: {} };
  return {
    argv: [runtime.execPath, runtime.bundledCli],
    env: runtime.isElectron ? { ELECTRON_RUN_AS_NODE: '1' } : {},
  };
}
