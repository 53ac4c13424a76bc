/**
 * The "HPC clusters" Jupyter server collection: its servers are the Jupyter sessions the agent
 * knows (id = session id, stable across agent restarts and window reloads), reached through the
 * agent's tunnels, and its commands start a new server job or connect to a running one. The
 * Jupyter extension calls it as follows: provideJupyterServers, then resolveJupyterServer for a
 * server without connection information (maybe in the background after a reload, so without UI);
 * provideCommands/handleCommand from the kernel picker.
 */
import type * as vscode from 'vscode';
import type {
  JupyterServer,
  JupyterServerCommand,
  JupyterServerCommandProvider,
  JupyterServerProvider,
} from '@vscode/jupyter-extension';
import type { SessionRecord } from '@hpc-jupyter/core';
import type { AgentConnection } from './agent-connection';
import { withSignal } from './cancellation';
import type { SessionsModel } from './sessions-model';
import type { SessionLauncher } from './session-launcher';
import type { ProfileInfo } from './profiles';
import { isServerProfile } from './start-flow';
import {
  type LastKnownServers,
  type ServerEntry,
  sameEntries,
  serverEntries,
  serverLabel,
} from './jupyter-servers';
import { pickRunningServer } from './connect-flow';

export const COLLECTION_ID = 'hpc-jupyter';
export const COLLECTION_LABEL = 'HPC clusters';
export const START_COMMAND_LABEL = 'Start a Jupyter server job...';
export const CONNECT_COMMAND_LABEL = 'Connect to a running session...';

/** How long provideJupyterServers waits for the agent's first answer before using the last list. */
const FIRST_LOAD_WAIT_MS = 3000;

export interface ServerProviderDeps {
  readonly model: SessionsModel;
  readonly connection: AgentConnection;
  readonly launcher: SessionLauncher;
  readonly lastKnown: LastKnownServers;
  readonly now: () => number;
  readonly log: (message: string) => void;
}

interface CommandItem extends JupyterServerCommand {
  readonly profile?: ProfileInfo;
}

export class HpcServerProvider
  implements JupyterServerProvider, JupyterServerCommandProvider, vscode.Disposable
{
  private readonly changed: vscode.EventEmitter<void>;
  private readonly subscription: { dispose(): void };
  private current: readonly ServerEntry[];
  readonly onDidChangeServers: vscode.Event<void>;

  constructor(
    private readonly vs: typeof vscode,
    private readonly deps: ServerProviderDeps,
  ) {
    this.changed = new vs.EventEmitter<void>();
    this.onDidChangeServers = this.changed.event;
    this.current = deps.lastKnown.get();
    this.subscription = deps.model.onDidChange(() => {
      this.update();
    });
  }

  async provideJupyterServers(token: vscode.CancellationToken): Promise<JupyterServer[]> {
    const { model, connection } = this.deps;
    connection.demand();
    if (!model.loaded) {
      await withSignal(token, (signal) => model.whenLoaded(FIRST_LOAD_WAIT_MS, signal));
    }
    this.update();
    return this.current.map((e) => ({ id: e.id, label: e.label }));
  }

  async resolveJupyterServer(
    server: JupyterServer,
    token: vscode.CancellationToken,
  ): Promise<JupyterServer> {
    return withSignal(token, async (signal) => {
      const client = await this.deps.connection.client(signal);
      // The agent opens the tunnel (or reuses it) and says where it listens.
      const access = await client.access(server.id, { signal });
      return {
        id: server.id,
        label: server.label,
        connectionInformation: {
          baseUrl: this.vs.Uri.parse(access.url),
          ...(access.token === undefined ? {} : { token: access.token }),
        },
      };
    });
  }

  provideCommands(): JupyterServerCommand[] {
    const { templates, profiles } = this.deps.model.catalog;
    return [
      {
        label: START_COMMAND_LABEL,
        description: 'in a batch job on an HPC cluster',
        canBeAutoSelected: true,
      },
      { label: CONNECT_COMMAND_LABEL, description: 'a Jupyter server job that already runs' },
      ...profiles
        .filter((p) => isServerProfile(p, templates))
        .map((p): CommandItem => ({
          label: `Start "${p.displayName}"`,
          description: `profile on ${p.cluster}`,
          profile: p,
        })),
    ];
  }

  async handleCommand(
    command: JupyterServerCommand,
    token: vscode.CancellationToken,
  ): Promise<JupyterServer> {
    const record = await this.runCommand(command, token);
    if (record === undefined) throw new this.vs.CancellationError();
    // The Jupyter extension looks the returned server up in the list: announce it first.
    this.deps.model.upsert(record);
    this.update();
    this.changed.fire();
    return this.resolveJupyterServer({ id: record.id, label: serverLabel(record) }, token);
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }

  private runCommand(
    command: JupyterServerCommand,
    token: vscode.CancellationToken,
  ): Promise<SessionRecord | undefined> {
    const { launcher } = this.deps;
    if (command.label === START_COMMAND_LABEL) return launcher.launch({}, token);
    if (command.label === CONNECT_COMMAND_LABEL) {
      return pickRunningServer(this.vs, this.deps, token);
    }
    const profile =
      (command as CommandItem).profile ??
      this.deps.model.catalog.profiles.find((p) => command.label === `Start "${p.displayName}"`);
    if (profile === undefined) return Promise.resolve(undefined);
    return launcher.launch({ profile }, token);
  }

  /** Recomputes the list from the model once it reflects the agent; fires when it changed. */
  private update(): void {
    const { model, lastKnown } = this.deps;
    if (!model.loaded) return;
    const next = serverEntries(model.sessions, model.catalog.templates);
    if (sameEntries(next, this.current)) return;
    this.current = next;
    void lastKnown.set(next).catch((err: unknown) => {
      this.deps.log(`Could not save the server list: ${String(err)}`);
    });
    this.changed.fire();
  }
}
