/**
 * Warns once per session some minutes before its walltime ends (the scheduler then stops the job
 * and everything in it), with buttons to see its log or stop it now. The lead time is a setting.
 */
import type * as vscode from 'vscode';
import type { SessionRecord } from '@hpc-jupyter/core';
import type { SessionsModel } from './sessions-model';
import { formatDuration, isLive, timeLeftMs } from './session-format';

export interface WalltimeDeps {
  readonly model: SessionsModel;
  readonly now: () => number;
  /** Minutes of warning; 0 turns it off. Read on every check, so setting changes apply. */
  readonly leadMinutes: () => number;
  readonly showLogs: (id: string) => Promise<void>;
  readonly stop: (record: SessionRecord) => Promise<void>;
  /** Default 30 s. */
  readonly checkMs?: number;
}

/** Sessions whose walltime ends within `leadMinutes` and that have not been warned about. */
export function dueForWarning(
  sessions: readonly SessionRecord[],
  now: number,
  leadMinutes: number,
  warned: ReadonlySet<string>,
): SessionRecord[] {
  if (leadMinutes <= 0) return [];
  return sessions.filter((s) => {
    if (warned.has(s.id) || !isLive(s.state)) return false;
    const left = timeLeftMs(s, now);
    return left !== undefined && left <= leadMinutes * 60_000;
  });
}

export class WalltimeWarnings implements vscode.Disposable {
  private readonly warned = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly vs: typeof vscode,
    private readonly deps: WalltimeDeps,
  ) {
    this.timer = setInterval(() => {
      this.check();
    }, deps.checkMs ?? 30_000);
  }

  check(): void {
    const { model, now } = this.deps;
    const t = now();
    for (const s of dueForWarning(model.sessions, t, this.deps.leadMinutes(), this.warned)) {
      this.warned.add(s.id);
      void this.warn(s, timeLeftMs(s, t) ?? 0);
    }
  }

  dispose(): void {
    clearInterval(this.timer);
  }

  private async warn(record: SessionRecord, leftMs: number): Promise<void> {
    const choice = await this.vs.window.showWarningMessage(
      `"${record.title}" reaches its walltime in ${formatDuration(leftMs)}; the job and its kernels stop then. Save your work.`,
      'Show Logs',
      'Stop Now',
    );
    if (choice === 'Show Logs') await this.deps.showLogs(record.id);
    if (choice === 'Stop Now') await this.deps.stop(record);
  }
}
