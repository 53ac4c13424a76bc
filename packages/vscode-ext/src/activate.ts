/**
 * Composes the extension from the VS Code API it is given (STYLE.md, 7): the agent connection and
 * the sessions model, the "HPC clusters" Jupyter server collection, the HPC view, commands,
 * prompts, the status bar and walltime warnings. Everything it creates is disposed through
 * `context.subscriptions`. Tests call it with a fake `vscode` and a private agent.
 */
import type * as vscode from 'vscode';
import type { Jupyter, JupyterServerCollection } from '@vscode/jupyter-extension';
import { connectAgent, type Environment } from '@hpc-jupyter/core';
import { AgentConnection, type Connector } from './agent-connection';
import { LastKnownServers } from './jupyter-servers';
import { loadProfiles } from './profiles';
import { PromptsUi } from './prompts-ui';
import { COLLECTION_ID, COLLECTION_LABEL, HpcServerProvider } from './server-provider';
import { SessionCommands } from './session-commands';
import { SessionLauncher } from './session-launcher';
import { SessionsModel } from './sessions-model';
import { hpcCommand, readSettings, type Runtime } from './settings';
import { SessionStatusBar } from './status-bar';
import { HpcTreeProvider } from './tree-view';
import { WalltimeWarnings } from './walltime-warning';

export const VIEW_ID = 'hpcJupyter.sessions';
export const JUPYTER_EXTENSION_ID = 'ms-toolsai.jupyter';

export interface ActivateOptions {
  /** The environment the agent is found (and started) with: its socket, config and state. */
  readonly env: Environment;
  readonly runtime: Runtime;
  /** The Jupyter extension's API; default: from the ms-toolsai.jupyter extension. */
  readonly jupyter?: Jupyter;
  /** Default: connectAgent with the command from the settings. */
  readonly connect?: Connector;
  readonly now?: () => number;
}

/** What activate() returns: the pieces, for tests and for other extensions. */
export interface HpcJupyterApi {
  readonly model: SessionsModel;
  readonly connection: AgentConnection;
  readonly provider: HpcServerProvider;
  readonly tree: HpcTreeProvider;
  readonly launcher: SessionLauncher;
  readonly commands: SessionCommands;
  readonly prompts: PromptsUi;
  readonly collection: JupyterServerCollection | undefined;
}

export async function activateExtension(
  vs: typeof vscode,
  context: vscode.ExtensionContext,
  options: ActivateOptions,
): Promise<HpcJupyterApi> {
  const subscriptions = context.subscriptions;
  const now = options.now ?? Date.now;
  const output = vs.window.createOutputChannel('HPC Jupyter');
  const logs = vs.window.createOutputChannel('HPC Jupyter: Job Logs');
  subscriptions.push(output, logs);
  const log = (message: string): void => {
    output.appendLine(`[${new Date(now()).toISOString()}] ${message}`);
  };

  const currentCommand = () => hpcCommand(readSettings(vs), options.runtime);
  const connect: Connector =
    options.connect ??
    (({ start, signal }) => {
      const command = currentCommand();
      return connectAgent({
        start,
        env: { ...options.env, ...command.env },
        command: [...command.argv, 'agent'],
        ...(signal === undefined ? {} : { signal }),
      });
    });

  const model = new SessionsModel();
  const lastKnown = new LastKnownServers(context.globalState);
  const connection = new AgentConnection({
    connect,
    model,
    loadProfiles: (signal) => loadProfiles(options.env, signal),
    log,
    // Servers were listed last time: the kernel picker will want them back.
    startNow: lastKnown.get().length > 0,
  });
  subscriptions.push(
    {
      dispose: () => {
        void connection.dispose();
      },
    },
    {
      dispose: () => {
        model.dispose();
      },
    },
  );

  // Called only after `commands` exists (a failed session's "Show Logs" button).
  const showLogs = async (id: string): Promise<void> => {
    await commands.showLogs(undefined, id);
  };
  const launcher = new SessionLauncher(vs, { model, connection, now, log, showLogs });
  const commands = new SessionCommands(vs, {
    model,
    connection,
    launcher,
    logs,
    env: options.env,
    now,
    log,
    hpcCommand: currentCommand,
    version: extensionVersion(context),
  });
  subscriptions.push(...commands.register());

  const provider = new HpcServerProvider(vs, { model, connection, launcher, lastKnown, now, log });
  const tree = new HpcTreeProvider(vs, { model, connection, now });
  const treeView = vs.window.createTreeView(VIEW_ID, {
    treeDataProvider: tree,
    showCollapseAll: true,
  });
  const prompts = new PromptsUi(vs, { model, connection, log });
  const stopFromWarning = async (record: { readonly id: string }): Promise<void> => {
    const client = await connection.client();
    model.upsert(await client.stopSession(record.id));
  };
  subscriptions.push(
    provider,
    tree,
    treeView,
    prompts,
    new SessionStatusBar(vs, model, now),
    new WalltimeWarnings(vs, {
      model,
      now,
      leadMinutes: () => readSettings(vs).walltimeWarningMinutes,
      showLogs,
      stop: stopFromWarning,
    }),
    vs.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('hpcJupyter.command')) {
        log('hpcJupyter.command changed: it applies the next time the agent starts.');
      }
    }),
  );

  const jupyter = options.jupyter ?? (await jupyterApi(vs, log));
  let collection: JupyterServerCollection | undefined;
  if (jupyter !== undefined) {
    collection = jupyter.createJupyterServerCollection(COLLECTION_ID, COLLECTION_LABEL, provider);
    collection.commandProvider = provider;
    subscriptions.push(collection);
  }

  connection.start();
  log(`Activated; hpc-jupyter command: ${currentCommand().argv.join(' ')}`);
  return { model, connection, provider, tree, launcher, commands, prompts, collection };
}

function extensionVersion(context: vscode.ExtensionContext): string {
  // `extension` is missing from contexts made by hand (tests).
  const packageJSON = (context as Partial<vscode.ExtensionContext>).extension?.packageJSON as
    { version?: unknown } | undefined;
  return typeof packageJSON?.version === 'string' ? packageJSON.version : 'unknown';
}

async function jupyterApi(
  vs: typeof vscode,
  log: (message: string) => void,
): Promise<Jupyter | undefined> {
  const extension = vs.extensions.getExtension<Jupyter>(JUPYTER_EXTENSION_ID);
  if (extension === undefined) {
    log(
      `${JUPYTER_EXTENSION_ID} is not installed: no "HPC clusters" servers in the kernel picker.`,
    );
    return undefined;
  }
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch (err) {
    log(`The Jupyter extension did not activate: ${String(err)}`);
    return undefined;
  }
}
