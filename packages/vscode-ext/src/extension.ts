/**
 * Entry point of the VS Code extension: the only module that touches `vscode` at run time. It
 * hands the API, the process environment and where the bundled `hpc-jupyter` lives to
 * activateExtension, which composes everything else.
 */
import * as vscode from 'vscode';
import path from 'node:path';
import { activateExtension, type HpcJupyterApi } from './activate';

export function activate(context: vscode.ExtensionContext): Promise<HpcJupyterApi> {
  return activateExtension(vscode, context, {
    env: process.env,
    runtime: {
      execPath: process.execPath,
      isElectron: process.versions.electron !== undefined,
      bundledCli: path.join(context.extensionPath, 'dist', 'hpc-jupyter.js'),
    },
  });
}

export function deactivate(): void {
  // Everything this extension owns is released through context.subscriptions; the agent and the
  // jobs keep running (the agent stops by itself once it is idle).
}
