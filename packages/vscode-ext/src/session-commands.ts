/**
 * The commands of the HPC view and the command palette: start, connect, start a profile, stop,
 * relaunch, open in the browser, open a dashboard, show the job's log, install a profile as a
 * kernel, forget an ended session, refresh. Each takes the tree node it was invoked on, or asks
 * with a quick pick when run from the palette.
 */
import type * as vscode from 'vscode';
import os from 'node:os';
import { writeRedirectPage, type Environment, type SessionRecord } from '@hpc-jupyter/core';
import { describe, type AgentConnection } from './agent-connection';
import { pickRunningServer } from './connect-flow';
import { isJupyterSession } from './jupyter-servers';
import {
  absoluteProgram,
  hasKernelLauncher,
  type HpcCommand,
  jupyterDataDir,
  kernelspecJson,
  kernelspecName,
  writeKernelspec,
} from './kernelspec';
import type { ProfileInfo } from './profiles';
import type { SessionLauncher } from './session-launcher';
import type { SessionsModel } from './sessions-model';
import { describeSession, isLive } from './session-format';
import { isServerProfile } from './start-flow';
import { dashboardsOf, type HpcNode } from './tree-view';

export const COMMAND_IDS = [
  'hpcJupyter.startServer',
  'hpcJupyter.connectSession',
  'hpcJupyter.startProfile',
  'hpcJupyter.stopSession',
  'hpcJupyter.relaunchSession',
  'hpcJupyter.openInBrowser',
  'hpcJupyter.openDashboard',
  'hpcJupyter.showLogs',
  'hpcJupyter.installKernel',
  'hpcJupyter.forgetSession',
  'hpcJupyter.refresh',
] as const;

export type CommandId = (typeof COMMAND_IDS)[number];

export interface CommandDeps {
  readonly model: SessionsModel;
  readonly connection: AgentConnection;
  readonly launcher: SessionLauncher;
  readonly logs: vscode.OutputChannel;
  readonly env: Environment;
  readonly now: () => number;
  readonly log: (message: string) => void;
  /** The `hpc-jupyter` to write into kernelspecs (settings are read when the command runs). */
  readonly hpcCommand: () => HpcCommand;
  /** This extension's version, recorded in kernelspecs. */
  readonly version: string;
}

interface SessionItem extends vscode.QuickPickItem {
  readonly record: SessionRecord;
}

interface ProfileItem extends vscode.QuickPickItem {
  readonly profile: ProfileInfo;
}

export class SessionCommands {
  constructor(
    private readonly vs: typeof vscode,
    private readonly deps: CommandDeps,
  ) {}

  /** Registers every command; the caller owns the returned disposables. */
  register(): vscode.Disposable[] {
    const handlers: Record<CommandId, (node?: HpcNode) => Promise<void>> = {
      'hpcJupyter.startServer': (node) => this.startServer(node),
      'hpcJupyter.connectSession': () => this.connect(),
      'hpcJupyter.startProfile': (node) => this.startProfile(node),
      'hpcJupyter.stopSession': (node) => this.stop(node),
      'hpcJupyter.relaunchSession': (node) => this.relaunch(node),
      'hpcJupyter.openInBrowser': (node) => this.openInBrowser(node),
      'hpcJupyter.openDashboard': (node) => this.openDashboard(node),
      'hpcJupyter.showLogs': (node) => this.showLogs(node),
      'hpcJupyter.installKernel': (node) => this.installKernel(node),
      'hpcJupyter.forgetSession': (node) => this.forget(node),
      'hpcJupyter.refresh': () => this.refresh(),
    };
    return COMMAND_IDS.map((id) =>
      this.vs.commands.registerCommand(id, async (node?: HpcNode) => {
        try {
          await handlers[id](node);
        } catch (err) {
          if (err instanceof this.vs.CancellationError) return;
          this.deps.log(`${id} failed: ${describe(err)}`);
          void this.vs.window.showErrorMessage(describe(err));
        }
      }),
    );
  }

  async startServer(node?: HpcNode): Promise<void> {
    const cluster = node?.kind === 'cluster' ? node.name : undefined;
    const record = await this.deps.launcher.launch(cluster === undefined ? {} : { cluster });
    if (record !== undefined) await this.announceReady(record);
  }

  async connect(): Promise<void> {
    const record = await pickRunningServer(this.vs, this.deps);
    if (record !== undefined) await this.announceReady(record);
  }

  async startProfile(node?: HpcNode): Promise<void> {
    const { templates } = this.deps.model.catalog;
    const profile = await this.profileFor(node, 'Start which profile?', (p) =>
      isServerProfile(p, templates),
    );
    if (profile === undefined) return;
    const record = await this.deps.launcher.launch({ profile });
    if (record !== undefined) await this.announceReady(record);
  }

  async stop(node?: HpcNode): Promise<void> {
    const record = await this.sessionFor(node, 'Stop which session?', (s) => isLive(s.state));
    if (record === undefined) return;
    const job = record.jobId === undefined ? 'its job' : `job ${record.jobId}`;
    const yes = await this.vs.window.showWarningMessage(
      `Stop "${record.title}"? This cancels ${job} on ${record.cluster}; unsaved work in it is lost.`,
      { modal: true },
      'Stop',
    );
    if (yes !== 'Stop') return;
    const client = await this.deps.connection.client();
    this.deps.model.upsert(await client.stopSession(record.id));
  }

  async relaunch(node?: HpcNode): Promise<void> {
    const record = await this.sessionFor(node, 'Relaunch which session?', () => true);
    if (record === undefined) return;
    const ready = await this.deps.launcher.relaunch({
      cluster: record.cluster,
      template: record.template,
      params: record.params,
      ...(record.profile === undefined ? {} : { profile: record.profile }),
    });
    if (ready !== undefined) await this.announceReady(ready);
  }

  async openInBrowser(node?: HpcNode): Promise<void> {
    const record = await this.sessionFor(node, 'Open which session?', (s) => s.state === 'ready');
    if (record === undefined) return;
    const client = await this.deps.connection.client();
    const access = await client.access(record.id);
    if (access.endpoint.name !== 'jupyter' || access.token === undefined) {
      await this.open(access.url);
      return;
    }
    await this.openWithToken(access.url, access.token);
  }

  /**
   * Opens JupyterLab without the token in any process's argv: openExternal starts the browser
   * (through xdg-open on Linux) with its URL on the command line, which `ps` shows to every user
   * of a shared desktop. With the extension host on this machine, the browser gets the path of a
   * 0600 redirect page in the agent's 0700 directory (as `hpc-jupyter open` and `jupyter lab`
   * do). With a remote extension host that page is on the wrong machine, and a one-time code in
   * a URL could be raced by whoever reads `ps` first; so the browser gets the login page without
   * the token, and the token goes to the clipboard to paste there.
   */
  private async openWithToken(base: string, token: string): Promise<void> {
    if (this.vs.env.remoteName === undefined) {
      const page = await writeRedirectPage(
        `${base}lab?token=${encodeURIComponent(token)}`,
        this.deps.env,
      );
      await this.vs.env.openExternal(this.vs.Uri.file(page));
      return;
    }
    await this.vs.env.clipboard.writeText(token);
    await this.open(`${base}login?next=${encodeURIComponent(`${new URL(base).pathname}lab`)}`);
    void this.vs.window.showInformationMessage(
      "The session's token is on the clipboard: paste it into the login page's password field.",
    );
  }

  async openDashboard(node?: HpcNode): Promise<void> {
    const record = await this.sessionFor(
      node,
      'Open a dashboard of which session?',
      (s) => s.state === 'ready' && dashboardsOf(s).length > 0,
    );
    if (record === undefined) return;
    const names = dashboardsOf(record);
    const endpoint =
      names.length === 1
        ? names[0]
        : await this.vs.window.showQuickPick(names, { title: `Dashboards of ${record.title}` });
    if (endpoint === undefined) return;
    const client = await this.deps.connection.client();
    const access = await client.access(record.id, { endpoint });
    await this.open(access.url);
  }

  async showLogs(node?: HpcNode, id?: string): Promise<void> {
    const record =
      id === undefined
        ? await this.sessionFor(node, 'Show the log of which session?', () => true)
        : this.deps.model.session(id);
    if (record === undefined) return;
    const client = await this.deps.connection.client();
    const text = await client.logs(record.id, { lines: 2000 }).catch((err: unknown) => {
      if (record.logTail !== undefined) return `${record.logTail}\n(${describe(err)})`;
      throw err;
    });
    const { logs } = this.deps;
    logs.clear();
    logs.appendLine(
      `${record.title}: session ${record.id}, job ${record.jobId ?? '?'} on ${record.cluster}`,
    );
    logs.appendLine(`State: ${describeSession(record, this.deps.now())}`);
    logs.appendLine('');
    logs.append(text.endsWith('\n') ? text : `${text}\n`);
    logs.show(true);
  }

  async installKernel(node?: HpcNode): Promise<void> {
    const profile = await this.profileFor(node, 'Install which profile as a kernel?', () => true);
    if (profile === undefined) return;
    const base = this.deps.hpcCommand();
    const [program, ...rest] = base.argv;
    if (program === undefined) throw new Error('hpcJupyter.command is empty.');
    const command: HpcCommand = {
      argv: [await absoluteProgram(program, this.deps.env), ...rest],
      env: {
        ...base.env,
        ...(this.deps.env['HPC_JUPYTER_CONFIG'] === undefined
          ? {}
          : { HPC_JUPYTER_CONFIG: this.deps.env['HPC_JUPYTER_CONFIG'] }),
      },
    };
    if (!(await hasKernelLauncher(command, this.deps.env))) {
      throw new Error(
        'This hpc-jupyter has no remote-kernel launcher (`hpc-jupyter kernel`) yet: update it, or point hpcJupyter.command at one that has.',
      );
    }
    const name = kernelspecName(profile.name);
    const dir = await writeKernelspec(
      jupyterDataDir(this.deps.env, os.homedir(), process.platform),
      name,
      kernelspecJson(profile, command, this.deps.version),
    );
    this.deps.log(`Installed kernelspec ${name} in ${dir}.`);
    void this.vs.window.showInformationMessage(
      `"${profile.displayName}" is installed as a Jupyter kernel: pick it under "Jupyter Kernel..." in a notebook.`,
    );
  }

  async forget(node?: HpcNode): Promise<void> {
    const record = await this.sessionFor(
      node,
      'Remove which ended session?',
      (s) => !isLive(s.state),
    );
    if (record === undefined) return;
    const client = await this.deps.connection.client();
    await client.forgetSession(record.id);
  }

  async refresh(): Promise<void> {
    await this.deps.connection.refresh();
  }

  private async announceReady(record: SessionRecord): Promise<void> {
    const jupyter = isJupyterSession(record, this.deps.model.catalog.templates);
    const choice = await this.vs.window.showInformationMessage(
      jupyter
        ? `"${record.title}" is ready. Pick it in a notebook's kernel picker under "Existing Jupyter Server..." > "HPC clusters".`
        : `"${record.title}" is ready.`,
      ...(jupyter ? ['Open in Browser'] : []),
    );
    if (choice === 'Open in Browser') await this.openInBrowser({ kind: 'session', id: record.id });
  }

  private async open(url: string): Promise<void> {
    const external = await this.vs.env.asExternalUri(this.vs.Uri.parse(url));
    await this.vs.env.openExternal(external);
  }

  private async sessionFor(
    node: HpcNode | undefined,
    title: string,
    filter: (s: SessionRecord) => boolean,
  ): Promise<SessionRecord | undefined> {
    if (node?.kind === 'session') return this.deps.model.session(node.id);
    const now = this.deps.now();
    const items: SessionItem[] = this.deps.model.sessions.filter(filter).map((s) => ({
      label: s.title,
      description: describeSession(s, now),
      detail: `Session ${s.id} on ${s.cluster}`,
      record: s,
    }));
    if (items.length === 0) {
      void this.vs.window.showInformationMessage('No session to choose from.');
      return undefined;
    }
    return (await this.vs.window.showQuickPick(items, { title }))?.record;
  }

  private async profileFor(
    node: HpcNode | undefined,
    title: string,
    filter: (p: ProfileInfo) => boolean,
  ): Promise<ProfileInfo | undefined> {
    const profiles = this.deps.model.catalog.profiles;
    if (node?.kind === 'profile') return profiles.find((p) => p.name === node.name);
    const items: ProfileItem[] = profiles.filter(filter).map((p) => ({
      label: p.displayName,
      description: `${p.template} on ${p.cluster}`,
      profile: p,
    }));
    if (items.length === 0) {
      void this.vs.window.showInformationMessage(
        'No profiles are configured: add one under `profiles:` in ~/.config/hpc-jupyter/clusters.yaml.',
      );
      return undefined;
    }
    return (await this.vs.window.showQuickPick(items, { title }))?.profile;
  }
}
