/**
 * The HPC view: clusters (with whether they answer), under each its profiles and its sessions
 * (state, queue reason, expected start, time left), and configuration problems. Items carry the
 * context values the package.json menus key on: `cluster`, `profile-server` / `profile`,
 * `session-ready[-dashboards]`, `session-pending`, `session-stopping`, `session-ended`.
 */
import type * as vscode from 'vscode';
import { isFinal, type SessionRecord, type SessionState } from '@hpc-jupyter/core';
import type { AgentConnection } from './agent-connection';
import type { SessionsModel } from './sessions-model';
import { isServerProfile } from './start-flow';
import { describeSession, sessionTooltip, timeLeftMs } from './session-format';

export type HpcNode =
  | { readonly kind: 'cluster'; readonly name: string }
  | { readonly kind: 'profile'; readonly name: string }
  | { readonly kind: 'session'; readonly id: string }
  | { readonly kind: 'problems' }
  | { readonly kind: 'problem'; readonly index: number }
  | { readonly kind: 'message'; readonly text: string };

/** Endpoints that are not dashboards: the Jupyter server itself and kernel ports. */
const NOT_DASHBOARDS = new Set(['jupyter', 'kernel']);

export function dashboardsOf(record: SessionRecord): string[] {
  return (record.connection?.endpoints ?? [])
    .map((e) => e.name)
    .filter((name) => !NOT_DASHBOARDS.has(name));
}

export function sessionContext(record: SessionRecord): string {
  if (isFinal(record.state)) return 'session-ended';
  if (record.state === 'stopping') return 'session-stopping';
  if (record.state === 'ready')
    return dashboardsOf(record).length > 0 ? 'session-ready-dashboards' : 'session-ready';
  return 'session-pending';
}

const STATE_ICONS: Readonly<Record<SessionState, readonly [string, string?]>> = {
  submitting: ['loading~spin'],
  queued: ['clock', 'charts.yellow'],
  starting: ['loading~spin'],
  ready: ['vm-running', 'charts.green'],
  stopping: ['loading~spin'],
  completed: ['pass'],
  failed: ['error', 'charts.red'],
  cancelled: ['circle-slash'],
  'timed-out': ['watch', 'charts.orange'],
  unknown: ['question', 'charts.yellow'],
};

export interface TreeDeps {
  readonly model: SessionsModel;
  readonly connection: AgentConnection;
  readonly now: () => number;
  /** How often descriptions (time left, elapsed) are redrawn while sessions run; default 30 s. */
  readonly tickMs?: number;
}

export class HpcTreeProvider implements vscode.TreeDataProvider<HpcNode>, vscode.Disposable {
  private readonly changed: vscode.EventEmitter<HpcNode | undefined>;
  private readonly subscription: { dispose(): void };
  private readonly ticker: NodeJS.Timeout;
  readonly onDidChangeTreeData: vscode.Event<HpcNode | undefined>;

  constructor(
    private readonly vs: typeof vscode,
    private readonly deps: TreeDeps,
  ) {
    this.changed = new vs.EventEmitter<HpcNode | undefined>();
    this.onDidChangeTreeData = this.changed.event;
    this.subscription = deps.model.onDidChange(() => {
      this.changed.fire(undefined);
    });
    this.ticker = setInterval(() => {
      const now = deps.now();
      if (deps.model.sessions.some((s) => timeLeftMs(s, now) !== undefined)) {
        this.changed.fire(undefined);
      }
    }, deps.tickMs ?? 30_000);
  }

  getChildren(node?: HpcNode): HpcNode[] {
    const { model } = this.deps;
    if (node === undefined) {
      // Someone is looking: that is demand enough to start the agent.
      this.deps.connection.demand();
      const clusters = this.clusterNames();
      if (clusters.length === 0) {
        return [{ kind: 'message', text: model.error ?? 'Connecting to the hpc-jupyter agent...' }];
      }
      const nodes: HpcNode[] = clusters.map((name) => ({ kind: 'cluster', name }));
      if (model.catalog.problems.length > 0) nodes.push({ kind: 'problems' });
      if (!model.live && model.error !== undefined)
        nodes.unshift({ kind: 'message', text: model.error });
      return nodes;
    }
    switch (node.kind) {
      case 'cluster': {
        const profiles: HpcNode[] = model.catalog.profiles
          .filter((p) => p.cluster === node.name)
          .map((p) => ({ kind: 'profile', name: p.name }));
        const sessions: HpcNode[] = model.sessions
          .filter((s) => s.cluster === node.name)
          .sort(bySessionOrder)
          .map((s) => ({ kind: 'session', id: s.id }));
        return [...profiles, ...sessions];
      }
      case 'problems':
        return model.catalog.problems.map((_, index) => ({ kind: 'problem', index }));
      default:
        return [];
    }
  }

  getTreeItem(node: HpcNode): vscode.TreeItem {
    const vs = this.vs;
    const { model } = this.deps;
    const None = vs.TreeItemCollapsibleState.None;
    switch (node.kind) {
      case 'cluster': {
        const info = model.catalog.clusters.find((c) => c.name === node.name);
        const state = model.clusterState(node.name);
        const item = new vs.TreeItem(node.name, vs.TreeItemCollapsibleState.Expanded);
        item.id = `cluster:${node.name}`;
        item.contextValue = 'cluster';
        item.description = info?.title ?? '';
        const unreachable = state?.reachable === false;
        item.iconPath = new vs.ThemeIcon(
          unreachable ? 'warning' : info?.scheduler === 'local' ? 'vm' : 'server-environment',
        );
        item.tooltip = [
          info?.title ?? node.name,
          info === undefined
            ? 'Not in the configuration any more'
            : `${info.scheduler} on ${info.host ?? 'this computer'}`,
          info === undefined ? '' : `Defined in ${info.source}`,
          unreachable ? `Not reachable: ${state.error ?? 'no answer'}` : '',
        ]
          .filter((l) => l !== '')
          .join('\n');
        return item;
      }
      case 'profile': {
        const profile = model.catalog.profiles.find((p) => p.name === node.name);
        const item = new vs.TreeItem(profile?.displayName ?? node.name, None);
        item.id = `profile:${node.name}`;
        const server = profile !== undefined && isServerProfile(profile, model.catalog.templates);
        item.contextValue = server ? 'profile-server' : 'profile';
        item.description = profile === undefined ? '' : `${profile.template} profile`;
        item.iconPath = new vs.ThemeIcon('star-empty');
        if (profile !== undefined) {
          const params = Object.entries(profile.params)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(', ');
          item.tooltip = `Profile ${profile.name}: ${profile.template} on ${profile.cluster}${params === '' ? '' : `\n${params}`}`;
        }
        return item;
      }
      case 'session': {
        const record = model.session(node.id);
        if (record === undefined) return new vs.TreeItem(node.id, None);
        const now = this.deps.now();
        const item = new vs.TreeItem(record.title, None);
        item.id = `session:${record.id}`;
        item.contextValue = sessionContext(record);
        item.description = describeSession(record, now);
        item.tooltip = sessionTooltip(record, now);
        const [icon, color] = STATE_ICONS[record.state];
        item.iconPath =
          color === undefined
            ? new vs.ThemeIcon(icon)
            : new vs.ThemeIcon(icon, new vs.ThemeColor(color));
        return item;
      }
      case 'problems': {
        const item = new vs.TreeItem(
          'Configuration problems',
          vs.TreeItemCollapsibleState.Collapsed,
        );
        item.id = 'problems';
        item.iconPath = new vs.ThemeIcon('warning');
        item.description = String(model.catalog.problems.length);
        return item;
      }
      case 'problem': {
        const p = model.catalog.problems[node.index];
        const item = new vs.TreeItem(p?.message ?? '', None);
        item.description =
          p === undefined ? '' : `${p.file}${p.line === undefined ? '' : `:${p.line}`}`;
        item.tooltip = p === undefined ? '' : `${p.message}\n${item.description}`;
        item.iconPath = new vs.ThemeIcon('error');
        if (p?.file.startsWith('/') === true) {
          item.command = {
            command: 'vscode.open',
            title: 'Open',
            arguments: [vs.Uri.file(p.file)],
          };
        }
        return item;
      }
      case 'message': {
        const item = new vs.TreeItem(node.text, None);
        item.iconPath = new vs.ThemeIcon('info');
        item.command = { command: 'hpcJupyter.refresh', title: 'Refresh' };
        return item;
      }
    }
  }

  dispose(): void {
    clearInterval(this.ticker);
    this.subscription.dispose();
    this.changed.dispose();
  }

  /** Configured clusters, then any cluster a session names that the configuration lost. */
  private clusterNames(): string[] {
    const { model } = this.deps;
    const names = model.catalog.clusters.map((c) => c.name);
    for (const s of model.sessions) if (!names.includes(s.cluster)) names.push(s.cluster);
    return names;
  }
}

/** Live sessions first, newest first within each group. */
function bySessionOrder(a: SessionRecord, b: SessionRecord): number {
  const ended = Number(isFinal(a.state)) - Number(isFinal(b.state));
  return ended !== 0 ? ended : b.createdAt.localeCompare(a.createdAt);
}
