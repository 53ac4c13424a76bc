/**
 * A TEST STAND-IN for the VS Code Jupyter extension (ms-toolsai.jupyter), for hpc-jupyter's
 * end-to-end test in code-server (see README.md): it has the Jupyter extension's id, exposes only
 * `createJupyterServerCollection` of its API, and calls the collections registered with it the way
 * the Jupyter extension's kernel picker does. What each call gave is written as JSON into the
 * directory named by HPC_JUPYTER_STANDIN_RESULTS, where the test reads it.
 */
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as vscode from 'vscode';
import type {
  Jupyter,
  JupyterServer,
  JupyterServerCollection,
  JupyterServerCommand,
  JupyterServerCommandProvider,
  JupyterServerProvider,
} from '@vscode/jupyter-extension';

/** The only part of the Jupyter extension's API this stand-in has. */
export type StandinApi = Pick<Jupyter, 'createJupyterServerCollection'>;

export const RESULTS_ENV = 'HPC_JUPYTER_STANDIN_RESULTS';
const NAME = 'Jupyter (test stand-in)';

/** A server as written to the results: its connection information made plain JSON. */
export interface ServerResult {
  readonly id: string;
  readonly label: string;
  readonly connection?: {
    readonly baseUrl: string;
    readonly token?: string;
    readonly headers?: Record<string, string>;
  };
}

/** servers.json: what every collection lists now, without any UI. */
export interface ServersResult {
  readonly collections: {
    readonly id: string;
    readonly label: string;
    readonly servers: ServerResult[];
    readonly commands: { label: string; description?: string; canBeAutoSelected?: boolean }[];
    /** How often the provider fired onDidChangeServers. */
    readonly changes: number;
  }[];
}

/** selected.json and resolved.json. */
export interface SelectedResult {
  readonly collection: string;
  /** How the server was reached: picked from the list, or returned by a command. */
  readonly via: 'server' | 'command' | 'resolve';
  readonly command?: string;
  readonly server: ServerResult;
}

class Collection implements JupyterServerCollection {
  documentation?: vscode.Uri;
  commandProvider?: JupyterServerCommandProvider;
  changes = 0;
  private readonly listener: vscode.Disposable | undefined;

  constructor(
    readonly id: string,
    public label: string,
    readonly provider: JupyterServerProvider,
    private readonly removed: () => void,
  ) {
    // Like the Jupyter extension: a change is a reason to list the servers again.
    this.listener = provider.onDidChangeServers?.(() => {
      this.changes += 1;
      void withToken((token) => provider.provideJupyterServers(token)).catch(() => undefined);
    });
  }

  dispose(): void {
    this.listener?.dispose();
    this.removed();
  }
}

const collections = new Map<string, Collection>();

async function withToken<T>(call: (token: vscode.CancellationToken) => T): Promise<Awaited<T>> {
  const source = new vscode.CancellationTokenSource();
  try {
    return await call(source.token);
  } finally {
    source.dispose();
  }
}

async function listServers(collection: Collection): Promise<JupyterServer[]> {
  return (await withToken((t) => collection.provider.provideJupyterServers(t))) ?? [];
}

async function listCommands(
  collection: Collection,
  value: string | undefined,
): Promise<JupyterServerCommand[]> {
  const provider = collection.commandProvider;
  if (provider === undefined) return [];
  return (await withToken((t) => provider.provideCommands(value, t))) ?? [];
}

/** The server with its connection information, from resolveJupyterServer if it has none. */
async function resolve(collection: Collection, server: JupyterServer): Promise<JupyterServer> {
  if (server.connectionInformation !== undefined) return server;
  const resolved =
    (await withToken((t) => collection.provider.resolveJupyterServer(server, t))) ?? server;
  if (resolved.connectionInformation === undefined) {
    throw new Error(`${collection.label}: server "${server.label}" resolved without a baseUrl`);
  }
  return resolved;
}

function asResult(server: JupyterServer): ServerResult {
  const info = server.connectionInformation;
  return {
    id: server.id,
    label: server.label,
    ...(info === undefined
      ? {}
      : {
          connection: {
            baseUrl: info.baseUrl.toString(),
            ...(info.token === undefined ? {} : { token: info.token }),
            ...(info.headers === undefined ? {} : { headers: info.headers }),
          },
        }),
  };
}

/** Writes `<name>.json` into the results directory, whole or not at all (0600: it holds tokens). */
async function writeResult(name: string, value: unknown): Promise<void> {
  const dir = process.env[RESULTS_ENV];
  if (dir === undefined || dir === '') {
    throw new Error(`${RESULTS_ENV} is not set in the VS Code host's environment: no results`);
  }
  const file = path.join(dir, `${name}.json`);
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  await rename(partial, file);
}

function isCancellation(err: unknown): boolean {
  return err instanceof vscode.CancellationError || (err as Error | undefined)?.name === 'Canceled';
}

async function report(command: string, err: unknown): Promise<void> {
  const message = err instanceof Error ? err.message : String(err);
  void vscode.window.showErrorMessage(`${NAME}: ${message}`);
  await writeResult('error', { command, message }).catch(() => undefined);
}

type PickItem = vscode.QuickPickItem & {
  readonly server?: JupyterServer;
  readonly command?: JupyterServerCommand;
};

/** One collection's servers and commands in one quick pick; commands follow what is typed. */
async function pickFromCollection(collection: Collection): Promise<PickItem | undefined> {
  const servers = await listServers(collection);
  const commands = await listCommands(collection, undefined);
  const auto = commands.filter((c) => c.canBeAutoSelected === true);
  const [only] = auto;
  if (servers.length === 0 && auto.length === 1 && only !== undefined) {
    return { label: only.label, command: only };
  }
  const pick = vscode.window.createQuickPick<PickItem>();
  const items = (typed: readonly JupyterServerCommand[]): PickItem[] => [
    ...servers.map((s) => ({ label: s.label, description: s.id, server: s })),
    { label: '', kind: vscode.QuickPickItemKind.Separator },
    ...typed.map((c) => ({
      label: c.label,
      ...(c.description === undefined ? {} : { description: c.description }),
      command: c,
    })),
  ];
  pick.title = collection.label;
  pick.placeholder = 'Pick a Jupyter server';
  pick.items = items(commands);
  pick.ignoreFocusOut = true;
  return new Promise<PickItem | undefined>((done) => {
    pick.onDidChangeValue((value) => {
      void listCommands(collection, value).then((typed) => {
        pick.items = items(typed);
      });
    });
    pick.onDidAccept(() => {
      done(pick.selectedItems[0]);
      pick.dispose();
    });
    pick.onDidHide(() => {
      done(undefined);
      pick.dispose();
    });
    pick.show();
  });
}

/** The kernel picker's "Existing Jupyter Server...": a collection, then a server or a command. */
async function selectServer(): Promise<void> {
  const items = [...collections.values()].map((c) => ({ label: c.label, collection: c }));
  if (items.length === 0) {
    void vscode.window.showInformationMessage(`${NAME}: no Jupyter server collection registered.`);
    return;
  }
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Select an existing Jupyter server',
    ignoreFocusOut: true,
  });
  if (picked === undefined) return;
  const collection = picked.collection;
  for (;;) {
    const item = await pickFromCollection(collection);
    if (item === undefined) return;
    let server = item.server;
    if (item.command !== undefined) {
      const provider = collection.commandProvider;
      if (provider === undefined) return;
      const command = item.command;
      try {
        server = (await withToken((t) => provider.handleCommand(command, t))) ?? undefined;
      } catch (err) {
        // Escape or cancel: the flow ends. Anything else is an error to show.
        if (!isCancellation(err)) throw err;
        return;
      }
      // No server: back to the previous step, as the Jupyter extension does.
      if (server === undefined) continue;
    }
    if (server === undefined) return;
    const resolved = await resolve(collection, server);
    const result: SelectedResult = {
      collection: collection.id,
      via: item.command === undefined ? 'server' : 'command',
      ...(item.command === undefined ? {} : { command: item.command.label }),
      server: asResult(resolved),
    };
    await writeResult('selected', result);
    void vscode.window.showInformationMessage(
      `${NAME}: connected to "${resolved.label}" at ${result.server.connection?.baseUrl ?? '?'}`,
    );
    return;
  }
}

async function writeServers(): Promise<void> {
  const result: ServersResult = { collections: [] };
  for (const c of collections.values()) {
    const servers = await listServers(c);
    const commands = await listCommands(c, undefined);
    result.collections.push({
      id: c.id,
      label: c.label,
      servers: servers.map(asResult),
      commands: commands.map((x) => ({
        label: x.label,
        ...(x.description === undefined ? {} : { description: x.description }),
        ...(x.canBeAutoSelected === undefined ? {} : { canBeAutoSelected: x.canBeAutoSelected }),
      })),
      changes: c.changes,
    });
  }
  await writeResult('servers', result);
}

/** Resolves the first server of the first collection, in the background (no UI). */
async function writeResolved(): Promise<void> {
  const [collection] = collections.values();
  if (collection === undefined) throw new Error('no Jupyter server collection registered');
  const [first] = await listServers(collection);
  if (first === undefined) throw new Error(`${collection.label} lists no server`);
  const result: SelectedResult = {
    collection: collection.id,
    via: 'resolve',
    server: asResult(await resolve(collection, first)),
  };
  await writeResult('resolved', result);
}

function guarded(command: string, run: () => Promise<void>): () => Promise<void> {
  return () => run().catch((err: unknown) => report(command, err));
}

export function activate(context: vscode.ExtensionContext): StandinApi {
  context.subscriptions.push(
    vscode.commands.registerCommand(
      'jupyterStandin.selectServer',
      guarded('selectServer', selectServer),
    ),
    vscode.commands.registerCommand(
      'jupyterStandin.test.listServers',
      guarded('listServers', writeServers),
    ),
    vscode.commands.registerCommand(
      'jupyterStandin.test.resolveServer',
      guarded('resolveServer', writeResolved),
    ),
  );
  return {
    createJupyterServerCollection(id, label, serverProvider) {
      if (collections.has(id)) throw new Error(`a Jupyter server collection "${id}" exists`);
      const collection = new Collection(id, label, serverProvider, () => {
        collections.delete(id);
      });
      collections.set(id, collection);
      return collection;
    },
  };
}

export function deactivate(): void {
  collections.clear();
}
