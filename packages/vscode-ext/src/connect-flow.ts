/**
 * "Connect to a running session...": a Jupyter server job that runs already, whether this agent
 * started it (still queued, say) or it was found on a cluster by its job name (started from
 * another machine, or before the agent's store was lost); a found job is adopted first. Waits
 * until it is ready, with the same progress notification as a new job.
 */
import type * as vscode from 'vscode';
import type { SessionRecord } from '@hpc-jupyter/core';
import { describe, type AgentConnection } from './agent-connection';
import { isJupyterSession } from './jupyter-servers';
import type { SessionLauncher } from './session-launcher';
import type { SessionsModel } from './sessions-model';
import { describeSession, isLive } from './session-format';

export interface ConnectFlowDeps {
  readonly model: SessionsModel;
  readonly connection: AgentConnection;
  readonly launcher: SessionLauncher;
  readonly now: () => number;
}

interface SessionItem extends vscode.QuickPickItem {
  readonly record?: SessionRecord;
  readonly search?: true;
}

export const SEARCH_LABEL = '$(search) Look for our jobs on the clusters...';

export async function pickRunningServer(
  vs: typeof vscode,
  deps: ConnectFlowDeps,
  token?: vscode.CancellationToken,
): Promise<SessionRecord | undefined> {
  const { model } = deps;
  const known = model.sessions.filter(
    (s) => isJupyterSession(s, model.catalog.templates) && isLive(s.state) && s.discovered !== true,
  );
  const items: SessionItem[] = [
    ...known.map((s) => sessionItem(s, deps.now())),
    {
      label: SEARCH_LABEL,
      detail: 'Jobs of hpc-jupyter this window does not know yet',
      search: true,
    },
  ];
  const picked = await vs.window.showQuickPick(
    items,
    { title: 'Connect to a running session', ignoreFocusOut: true, matchOnDetail: true },
    token,
  );
  if (picked === undefined) return undefined;
  let record = picked.record;
  if (picked.search === true) {
    record = await pickDiscovered(vs, deps, token);
    if (record === undefined) return undefined;
  }
  if (record === undefined) return undefined;
  if (record.discovered === true) {
    const client = await deps.connection.client();
    record = await client.adoptSession(record.id);
    model.upsert(record);
  }
  if (record.state === 'ready') return record;
  return deps.launcher.follow(record, token);
}

async function pickDiscovered(
  vs: typeof vscode,
  deps: ConnectFlowDeps,
  token?: vscode.CancellationToken,
): Promise<SessionRecord | undefined> {
  const { model } = deps;
  const found = await vs.window.withProgress(
    {
      location: vs.ProgressLocation.Notification,
      title: 'Looking for jobs on the clusters',
      cancellable: true,
    },
    async (progress, progressToken) => {
      const client = await deps.connection.client();
      const controller = new AbortController();
      const cancel = progressToken.onCancellationRequested(() => {
        controller.abort();
      });
      try {
        const results = await Promise.all(
          model.catalog.clusters.map(async (c) => {
            try {
              const sessions = await client.discover(c.name, { signal: controller.signal });
              progress.report({ message: `${c.name}: ${sessions.length} found` });
              return sessions;
            } catch (err) {
              progress.report({ message: `${c.name}: ${describe(err)}` });
              return [];
            }
          }),
        );
        return results.flat();
      } finally {
        cancel.dispose();
      }
    },
  );
  for (const s of found) model.upsert(s);
  const candidates = model.sessions.filter(
    (s) => s.discovered === true && isLive(s.state) && isJupyterSession(s, model.catalog.templates),
  );
  if (candidates.length === 0) {
    void vs.window.showInformationMessage(
      'No running Jupyter server jobs of hpc-jupyter were found.',
    );
    return undefined;
  }
  const picked = await vs.window.showQuickPick(
    candidates.map((s) => sessionItem(s, deps.now())),
    { title: 'Connect to a job found on a cluster', ignoreFocusOut: true },
    token,
  );
  return picked?.record;
}

function sessionItem(record: SessionRecord, now: number): SessionItem {
  return {
    label: record.title,
    description: describeSession(record, now),
    detail: `Session ${record.id} on ${record.cluster}${record.jobId === undefined ? '' : `, job ${record.jobId}`}`,
    record,
  };
}
