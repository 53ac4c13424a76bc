/**
 * Entry point of the VS Code extension: the only module that touches `vscode` at run time. The
 * HPC tree view and the Jupyter server collection arrive with the VS Code issue.
 */
import type * as vscode from 'vscode';

export function activate(context: vscode.ExtensionContext): void {
  context.subscriptions.push({
    dispose: () => undefined,
  });
}

export function deactivate(): void {
  // Everything this extension owns is released through context.subscriptions.
}
