/**
 * A fake of the part of the VS Code API the extension uses, for running it in plain Node: unit
 * tests, the contract test against the real agent, and loading the packaged bundle. Quick picks,
 * input boxes and message buttons answer from scripts the test queues; everything the extension
 * registers or shows is recorded. Not a VS Code: only as much behaviour as the extension relies on.
 */
import type * as vscode from 'vscode';
import type {
  Jupyter,
  JupyterServerCollection,
  JupyterServerCommandProvider,
  JupyterServerProvider,
} from '@vscode/jupyter-extension';

type Listener<T> = (value: T) => unknown;

export class FakeEventEmitter<T> {
  private readonly listeners = new Set<Listener<T>>();
  readonly event = (listener: Listener<T>): { dispose(): void } => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

export class FakeCancellationTokenSource {
  private readonly emitter = new FakeEventEmitter<void>();
  private cancelled = false;
  readonly token: vscode.CancellationToken;
  constructor() {
    const isCancelled = (): boolean => this.cancelled;
    const onCancel = (listener: Listener<void>): { dispose(): void } =>
      this.emitter.event(listener);
    this.token = {
      get isCancellationRequested() {
        return isCancelled();
      },
      onCancellationRequested: onCancel,
    };
  }
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emitter.fire();
  }
  dispose(): void {
    this.emitter.dispose();
  }
}

class FakeUri {
  constructor(
    readonly scheme: string,
    readonly value: string,
  ) {}
  static parse(value: string): FakeUri {
    return new FakeUri(/^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1] ?? 'file', value);
  }
  static file(path: string): FakeUri {
    return new FakeUri('file', path);
  }
  get fsPath(): string {
    return this.value.replace(/^file:\/\//, '');
  }
  toString(): string {
    return this.value;
  }
}

class FakeTreeItem {
  id?: string;
  description?: string;
  tooltip?: string;
  contextValue?: string;
  iconPath?: unknown;
  command?: vscode.Command;
  constructor(
    readonly label: string,
    readonly collapsibleState: number = 0,
  ) {}
}

class FakeThemeIcon {
  constructor(
    readonly id: string,
    readonly color?: FakeThemeColor,
  ) {}
}

class FakeThemeColor {
  constructor(readonly id: string) {}
}

class FakeCancellationError extends Error {
  constructor() {
    super('Canceled');
    this.name = 'Canceled';
  }
}

export interface FakeStatusBarItem {
  text: string;
  tooltip: string | undefined;
  command: string | undefined;
  name: string | undefined;
  visible: boolean;
}

export interface ProgressRecord {
  readonly title: string | undefined;
  readonly messages: string[];
  /** Presses the notification's Cancel button. */
  cancel(): void;
  done: boolean;
}

export interface MessageRecord {
  readonly level: 'info' | 'warning' | 'error';
  readonly message: string;
  readonly items: readonly string[];
  readonly modal: boolean;
}

export type QuickPickScript = (
  items: readonly vscode.QuickPickItem[],
  options: vscode.QuickPickOptions | undefined,
  token: vscode.CancellationToken | undefined,
) => vscode.QuickPickItem | undefined | Promise<vscode.QuickPickItem | undefined>;

export type InputScript = (
  options: vscode.InputBoxOptions | undefined,
  token: vscode.CancellationToken | undefined,
) => string | undefined | Promise<string | undefined>;

export type MessageScript = (record: MessageRecord) => string | undefined;

export interface FakeCollection {
  readonly id: string;
  readonly label: string;
  readonly provider: JupyterServerProvider;
  commandProvider: JupyterServerCommandProvider | undefined;
  disposed: boolean;
}

/** Picks the item whose label contains `text` (a scripted answer for a quick pick). */
export function pickLabel(text: string): QuickPickScript {
  return (items, options) => {
    const item = items.find((i) => i.label.includes(text));
    if (item === undefined) {
      throw new Error(
        `quick pick "${options?.title ?? ''}" has no item with "${text}": ${items.map((i) => i.label).join(' | ')}`,
      );
    }
    return item;
  };
}

/** Picks the item whose label is exactly `label`. */
export function pickExact(label: string): QuickPickScript {
  return (items, options) => {
    const item = items.find((i) => i.label === label);
    if (item === undefined) {
      throw new Error(
        `quick pick "${options?.title ?? ''}" has no item "${label}": ${items.map((i) => i.label).join(' | ')}`,
      );
    }
    return item;
  };
}

export class FakeVscode {
  readonly quickPickScripts: QuickPickScript[] = [];
  readonly inputScripts: InputScript[] = [];
  readonly messageScripts: MessageScript[] = [];
  readonly quickPickCalls: {
    items: readonly vscode.QuickPickItem[];
    options?: vscode.QuickPickOptions;
  }[] = [];
  readonly inputCalls: (vscode.InputBoxOptions | undefined)[] = [];
  readonly messages: MessageRecord[] = [];
  readonly progress: ProgressRecord[] = [];
  readonly commands = new Map<string, (...args: unknown[]) => unknown>();
  readonly executed: { id: string; args: unknown[] }[] = [];
  readonly treeViews = new Map<string, vscode.TreeDataProvider<unknown>>();
  readonly statusBarItems: FakeStatusBarItem[] = [];
  readonly outputs = new Map<string, string[]>();
  readonly opened: string[] = [];
  readonly collections: FakeCollection[] = [];
  readonly config = new Map<string, unknown>();
  readonly configChanged = new FakeEventEmitter<vscode.ConfigurationChangeEvent>();
  /** Set to false to act as if ms-toolsai.jupyter were not installed. */
  jupyterInstalled = true;

  readonly jupyter: Jupyter = {
    kernels: { getKernel: () => Promise.resolve(undefined) },
    createJupyterServerCollection: (id, label, provider): JupyterServerCollection => {
      const record: FakeCollection = {
        id,
        label,
        provider,
        commandProvider: undefined,
        disposed: false,
      };
      this.collections.push(record);
      return {
        id,
        label,
        get commandProvider() {
          return record.commandProvider;
        },
        set commandProvider(value) {
          record.commandProvider = value;
        },
        dispose: () => {
          record.disposed = true;
        },
      };
    },
  };

  readonly vs: typeof vscode = buildApi(this) as unknown as typeof vscode;

  /** An ExtensionContext with an in-memory global state. */
  context(extensionPath = '/nonexistent/hpc-jupyter-vscode'): vscode.ExtensionContext & {
    subscriptions: { dispose(): unknown }[];
  } {
    const state = new Map<string, unknown>();
    const memento = {
      get: <T>(key: string, fallback?: T): T | undefined =>
        state.has(key) ? (state.get(key) as T) : fallback,
      update: (key: string, value: unknown) => {
        state.set(key, value);
        return Promise.resolve();
      },
      keys: () => [...state.keys()],
    };
    return {
      subscriptions: [],
      globalState: memento,
      workspaceState: memento,
      extensionPath,
      extensionUri: FakeUri.file(extensionPath),
    } as unknown as vscode.ExtensionContext & { subscriptions: { dispose(): unknown }[] };
  }

  /** Everything written to an output channel, joined. */
  outputText(name: string): string {
    return (this.outputs.get(name) ?? []).join('');
  }
}

/** The fake `vscode` module object, recording into and answering from `fake`. */
function buildApi(fake: FakeVscode): Record<string, unknown> {
  const message =
    (level: MessageRecord['level']) =>
    (text: string, ...rest: unknown[]): Promise<string | undefined> => {
      const modal =
        typeof rest[0] === 'object' &&
        rest[0] !== null &&
        (rest[0] as { modal?: boolean }).modal === true;
      const items = rest.filter((r): r is string => typeof r === 'string');
      const record: MessageRecord = { level, message: text, items, modal };
      fake.messages.push(record);
      const script = fake.messageScripts.shift();
      return Promise.resolve(script?.(record));
    };
  return {
    EventEmitter: FakeEventEmitter,
    CancellationTokenSource: FakeCancellationTokenSource,
    CancellationError: FakeCancellationError,
    Uri: FakeUri,
    TreeItem: FakeTreeItem,
    ThemeIcon: FakeThemeIcon,
    ThemeColor: FakeThemeColor,
    Disposable: class {
      constructor(private readonly fn: () => void) {}
      dispose(): void {
        this.fn();
      }
    },
    TreeItemCollapsibleState: { None: 0, Collapsed: 1, Expanded: 2 },
    StatusBarAlignment: { Left: 1, Right: 2 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    QuickPickItemKind: { Separator: -1, Default: 0 },
    window: {
      createOutputChannel: (name: string) => {
        const lines: string[] = [];
        fake.outputs.set(name, lines);
        return {
          name,
          append: (t: string) => lines.push(t),
          appendLine: (t: string) => lines.push(`${t}\n`),
          clear: () => lines.splice(0),
          show: () => undefined,
          hide: () => undefined,
          dispose: () => undefined,
        };
      },
      createTreeView: (
        id: string,
        options: { treeDataProvider: vscode.TreeDataProvider<unknown> },
      ) => {
        fake.treeViews.set(id, options.treeDataProvider);
        return { dispose: () => fake.treeViews.delete(id) };
      },
      registerTreeDataProvider: (id: string, provider: vscode.TreeDataProvider<unknown>) => {
        fake.treeViews.set(id, provider);
        return { dispose: () => fake.treeViews.delete(id) };
      },
      createStatusBarItem: () => {
        const item: FakeStatusBarItem & { show(): void; hide(): void; dispose(): void } = {
          text: '',
          tooltip: undefined,
          command: undefined,
          name: undefined,
          visible: false,
          show: () => {
            item.visible = true;
          },
          hide: () => {
            item.visible = false;
          },
          dispose: () => {
            item.visible = false;
          },
        };
        fake.statusBarItems.push(item);
        return item;
      },
      showQuickPick: async (
        items:
          readonly (vscode.QuickPickItem | string)[] | Promise<readonly vscode.QuickPickItem[]>,
        options?: vscode.QuickPickOptions,
        token?: vscode.CancellationToken,
      ) => {
        const resolved = await items;
        const asItems = resolved.map((i) => (typeof i === 'string' ? { label: i } : i));
        const selectable = asItems.filter((i) => (i.kind as number | undefined) !== -1);
        fake.quickPickCalls.push({
          items: selectable,
          ...(options === undefined ? {} : { options }),
        });
        if (token?.isCancellationRequested === true) return undefined;
        const script = fake.quickPickScripts.shift();
        if (script === undefined) {
          throw new Error(
            `unexpected quick pick "${options?.title ?? options?.placeHolder ?? ''}"`,
          );
        }
        const picked = await script(selectable, options, token);
        if (picked === undefined) return undefined;
        const index = asItems.indexOf(picked);
        return typeof resolved[index] === 'string' ? resolved[index] : picked;
      },
      showInputBox: async (options?: vscode.InputBoxOptions, token?: vscode.CancellationToken) => {
        fake.inputCalls.push(options);
        if (token?.isCancellationRequested === true) return undefined;
        const script = fake.inputScripts.shift();
        if (script === undefined) {
          throw new Error(`unexpected input box "${options?.title ?? options?.prompt ?? ''}"`);
        }
        const answer = await script(options, token);
        if (answer !== undefined && options?.validateInput !== undefined) {
          const problem = await options.validateInput(answer);
          if (problem !== undefined && problem !== null && problem !== '') {
            const text = typeof problem === 'string' ? problem : problem.message;
            throw new Error(`scripted answer "${answer}" is invalid: ${text}`);
          }
        }
        return answer;
      },
      showInformationMessage: message('info'),
      showWarningMessage: message('warning'),
      showErrorMessage: message('error'),
      withProgress: async <R>(
        options: vscode.ProgressOptions,
        task: (
          progress: vscode.Progress<{ message?: string }>,
          token: vscode.CancellationToken,
        ) => Thenable<R>,
      ): Promise<R> => {
        const cts = new FakeCancellationTokenSource();
        const record: ProgressRecord = {
          title: options.title,
          messages: [],
          cancel: () => {
            cts.cancel();
          },
          done: false,
        };
        fake.progress.push(record);
        try {
          return await task(
            {
              report: (value) => {
                if (value.message !== undefined) record.messages.push(value.message);
              },
            },
            cts.token,
          );
        } finally {
          record.done = true;
        }
      },
    },
    commands: {
      registerCommand: (id: string, handler: (...args: unknown[]) => unknown) => {
        if (fake.commands.has(id)) throw new Error(`command ${id} registered twice`);
        fake.commands.set(id, handler);
        return { dispose: () => fake.commands.delete(id) };
      },
      executeCommand: (id: string, ...args: unknown[]) => {
        fake.executed.push({ id, args });
        return Promise.resolve(fake.commands.get(id)?.(...args));
      },
    },
    workspace: {
      getConfiguration: (section: string) => ({
        get: (key: string, fallback?: unknown) => {
          const full = `${section}.${key}`;
          return fake.config.has(full) ? fake.config.get(full) : fallback;
        },
      }),
      onDidChangeConfiguration: fake.configChanged.event,
    },
    env: {
      openExternal: (uri: FakeUri) => {
        fake.opened.push(uri.toString());
        return Promise.resolve(true);
      },
      asExternalUri: (uri: FakeUri) => Promise.resolve(uri),
    },
    extensions: {
      getExtension: (id: string) =>
        id === 'ms-toolsai.jupyter' && fake.jupyterInstalled
          ? {
              id,
              isActive: true,
              exports: fake.jupyter,
              activate: () => Promise.resolve(fake.jupyter),
            }
          : undefined,
    },
  };
}

/** A token that is never cancelled. */
export function noToken(): vscode.CancellationToken {
  return new FakeCancellationTokenSource().token;
}
