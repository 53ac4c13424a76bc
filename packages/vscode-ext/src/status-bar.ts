/**
 * A status-bar item with the live sessions ("HPC: 1 ready, 1 queued"); clicking it shows the HPC
 * view. Hidden while there are none.
 */
import type * as vscode from 'vscode';
import type { SessionState } from '@hpc-jupyter/core';
import type { SessionsModel } from './sessions-model';
import { describeSession, isLive } from './session-format';

const ORDER: readonly SessionState[] = ['ready', 'starting', 'queued', 'submitting', 'unknown'];

export function statusText(states: readonly SessionState[]): string | undefined {
  const counts = new Map<SessionState, number>();
  for (const s of states) if (isLive(s)) counts.set(s, (counts.get(s) ?? 0) + 1);
  const parts = ORDER.filter((s) => counts.has(s)).map((s) => `${counts.get(s) ?? 0} ${s}`);
  return parts.length === 0 ? undefined : `$(server-process) HPC: ${parts.join(', ')}`;
}

export class SessionStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private readonly subscription: { dispose(): void };

  constructor(
    vs: typeof vscode,
    private readonly model: SessionsModel,
    private readonly now: () => number,
  ) {
    this.item = vs.window.createStatusBarItem(
      'hpcJupyter.sessions',
      vs.StatusBarAlignment.Left,
      50,
    );
    this.item.name = 'HPC sessions';
    this.item.command = 'hpcJupyter.sessions.focus';
    this.subscription = model.onDidChange(() => {
      this.update();
    });
    this.update();
  }

  update(): void {
    const sessions = this.model.sessions;
    const text = statusText(sessions.map((s) => s.state));
    if (text === undefined) {
      this.item.hide();
      return;
    }
    this.item.text = text;
    const now = this.now();
    this.item.tooltip = sessions
      .filter((s) => isLive(s.state))
      .map((s) => `${s.title}: ${describeSession(s, now)}`)
      .join('\n');
    this.item.show();
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
