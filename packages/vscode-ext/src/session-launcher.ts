/**
 * Starting sessions from anywhere in the extension (the kernel picker's command, the tree, a
 * relaunch): asks for what to start, submits it through the agent (showing the form again with
 * the agent's objections if it refuses the values), then follows it until it is ready.
 */
import type * as vscode from 'vscode';
import { InvalidParametersError, type SessionRecord, type SessionSpec } from '@hpc-jupyter/core';
import { describe } from './agent-connection';
import { followUntilReady, type FollowDeps } from './queue-progress';
import { pickSessionSpec, type StartPreset } from './start-flow';

export interface LauncherDeps extends FollowDeps {
  /** Opens the job's log (the "Show Logs" button on a failure). */
  readonly showLogs: (id: string) => Promise<void>;
}

export class SessionLauncher {
  constructor(
    private readonly vs: typeof vscode,
    private readonly deps: LauncherDeps,
  ) {}

  /**
   * Asks (from `preset` on), starts and follows. Resolves with the ready session, or undefined
   * when the user backed out, cancelled the job, or it ended before it was ready (already said).
   */
  async launch(
    preset: StartPreset,
    token?: vscode.CancellationToken,
  ): Promise<SessionRecord | undefined> {
    let current = preset;
    for (;;) {
      const spec = await pickSessionSpec(this.vs, this.deps, current, token);
      if (spec === undefined) return undefined;
      try {
        const record = await this.submit(spec);
        return await this.follow(record, token);
      } catch (err) {
        if (!(err instanceof InvalidParametersError)) throw err;
        // Back to the form, with every field the agent objected to marked.
        current = {
          cluster: spec.cluster,
          template: spec.template,
          ...(spec.params === undefined ? {} : { params: spec.params }),
          problems: err.problems,
        };
      }
    }
  }

  /** Starts exactly `spec` (a relaunch) and follows it. */
  async relaunch(
    spec: SessionSpec,
    token?: vscode.CancellationToken,
  ): Promise<SessionRecord | undefined> {
    return this.follow(await this.submit(spec), token);
  }

  /** Follows a session that already exists (queued, adopted) until it is ready. */
  async follow(
    record: SessionRecord,
    token?: vscode.CancellationToken,
  ): Promise<SessionRecord | undefined> {
    const result = await followUntilReady(this.vs, this.deps, record, token);
    switch (result.kind) {
      case 'ready':
        return result.record;
      case 'ended':
        void this.reportEnded(result.record);
        return undefined;
      case 'cancelled':
      case 'detached':
        return undefined;
    }
  }

  private async submit(spec: SessionSpec): Promise<SessionRecord> {
    const client = await this.deps.connection.client();
    const record = await client.startSession(spec);
    this.deps.model.upsert(record);
    this.deps.log(`Started session ${record.id} (${record.title}), job ${record.jobId ?? '?'}.`);
    return record;
  }

  private async reportEnded(record: SessionRecord): Promise<void> {
    const why = record.reason === undefined ? '' : ` (${record.reason})`;
    this.deps.log(`Session ${record.id} ended before it was ready: ${record.state}${why}`);
    if (record.logTail !== undefined) this.deps.log(record.logTail);
    const choice = await this.vs.window.showErrorMessage(
      `"${record.title}" ended before it was ready: ${record.state}${why}.`,
      'Show Logs',
    );
    if (choice === 'Show Logs') {
      await this.deps.showLogs(record.id).catch((err: unknown) => {
        void this.vs.window.showErrorMessage(`Could not read the job's log: ${describe(err)}`);
      });
    }
  }
}
