/**
 * Follows a session from submission until its service is ready, in a cancellable progress
 * notification that shows the queue state ("Job 1234: queued (Resources), expected start 12:03,
 * 0:42 elapsed"). Cancelling the notification cancels the job. Updates come from the event stream
 * through the model, and from a slow poll of the agent in case the stream is down.
 */
import type * as vscode from 'vscode';
import { isFinal, type SessionRecord } from '@hpc-jupyter/core';
import type { AgentConnection } from './agent-connection';
import { describe } from './agent-connection';
import type { SessionsModel } from './sessions-model';
import { describeWait } from './session-format';

export type FollowResult =
  | { readonly kind: 'ready'; readonly record: SessionRecord }
  /** Ended (or being stopped) before it was ready. */
  | { readonly kind: 'ended'; readonly record: SessionRecord }
  /** The user cancelled in the notification: the job was asked to stop. */
  | { readonly kind: 'cancelled'; readonly record: SessionRecord }
  /** The caller gave up waiting (its token fired); the job goes on. */
  | { readonly kind: 'detached'; readonly record: SessionRecord };

export interface FollowDeps {
  readonly model: SessionsModel;
  readonly connection: AgentConnection;
  readonly now: () => number;
  readonly log: (message: string) => void;
  /** How often to ask the agent directly; default 3 s. */
  readonly pollMs?: number;
}

export function followUntilReady(
  vs: typeof vscode,
  deps: FollowDeps,
  record: SessionRecord,
  token?: vscode.CancellationToken,
): Promise<FollowResult> {
  return Promise.resolve(
    vs.window.withProgress(
      {
        location: vs.ProgressLocation.Notification,
        title: record.title,
        cancellable: true,
      },
      (progress, progressToken) =>
        new Promise<FollowResult>((resolve) => {
          let latest = record;
          let done = false;
          const report = (): void => {
            progress.report({ message: describeWait(latest, deps.now()) });
          };
          const finish = (result: FollowResult): void => {
            if (done) return;
            done = true;
            subscription.dispose();
            clearInterval(ticker);
            clearInterval(poller);
            onCancel.dispose();
            onDetach?.dispose();
            resolve(result);
          };
          const check = (r: SessionRecord): void => {
            if (done) return;
            latest = r;
            report();
            if (r.state === 'ready') finish({ kind: 'ready', record: r });
            else if (isFinal(r.state) || r.state === 'stopping')
              finish({ kind: 'ended', record: r });
          };
          const subscription = deps.model.onDidChange(() => {
            const r = deps.model.session(record.id);
            if (r !== undefined) check(r);
          });
          const ticker = setInterval(report, 1000);
          const poller = setInterval(() => {
            void deps.connection
              .client()
              .then((client) => client.session(record.id))
              .then(
                (r) => {
                  deps.model.upsert(r);
                  check(deps.model.session(r.id) ?? r);
                },
                (err: unknown) => {
                  deps.log(`Status of ${record.id}: ${describe(err)}`);
                },
              );
          }, deps.pollMs ?? 3000);
          const onCancel = progressToken.onCancellationRequested(() => {
            finish({ kind: 'cancelled', record: latest });
            void stopJob(vs, deps, latest);
          });
          const onDetach = token?.onCancellationRequested(() => {
            finish({ kind: 'detached', record: latest });
          });
          check(deps.model.session(record.id) ?? record);
        }),
    ),
  );
}

async function stopJob(vs: typeof vscode, deps: FollowDeps, record: SessionRecord): Promise<void> {
  try {
    const client = await deps.connection.client();
    deps.model.upsert(await client.stopSession(record.id));
  } catch (err) {
    deps.log(`Stopping ${record.id} failed: ${describe(err)}`);
    void vs.window.showErrorMessage(
      `Could not cancel the job of "${record.title}": ${describe(err)}`,
    );
  }
}
