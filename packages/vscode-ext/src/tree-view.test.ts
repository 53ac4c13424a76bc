import { afterEach, describe, expect, it } from 'vitest';
import type * as vscode from 'vscode';
import type { AgentConnection } from './agent-connection';
import { FakeVscode } from './fake-vscode.testutil';
import { SessionsModel } from './sessions-model';
import { readyJupyter } from './test-agent.testutil';
import { HpcTreeProvider, sessionContext, type HpcNode } from './tree-view';

const disposables: { dispose(): void }[] = [];
afterEach(() => {
  for (const d of disposables.splice(0)) d.dispose();
});

function setup(): { model: SessionsModel; tree: HpcTreeProvider; demanded: () => number } {
  const fake = new FakeVscode();
  const model = new SessionsModel();
  let demands = 0;
  const connection = { demand: () => demands++ } as unknown as AgentConnection;
  const tree = new HpcTreeProvider(fake.vs, { model, connection, now: () => Date.now() });
  disposables.push(tree);
  return { model, tree, demanded: () => demands };
}

function labels(tree: HpcTreeProvider, nodes: HpcNode[]): string[] {
  return nodes.map((n) => {
    const item = tree.getTreeItem(n);
    const label = typeof item.label === 'string' ? item.label : (item.label?.label ?? '');
    return `${label} [${item.contextValue ?? ''}]`;
  });
}

describe('the HPC view', () => {
  it('says it is connecting until it knows the clusters, and asks for the agent', () => {
    const { model, tree, demanded } = setup();
    expect(labels(tree, tree.getChildren())).toEqual(['Connecting to the hpc-jupyter agent... []']);
    expect(demanded()).toBe(1);
    model.setDisconnected('The hpc-jupyter agent is not running.');
    expect(labels(tree, tree.getChildren())).toEqual(['The hpc-jupyter agent is not running. []']);
  });

  it('shows clusters with their profiles and sessions, live ones first, and problems', () => {
    const { model, tree } = setup();
    model.setCatalog({
      clusters: [
        { name: 'local', scheduler: 'local', source: '<built-in>', title: 'This computer' },
        { name: 'lab', scheduler: 'slurm', host: 'login.lab', source: '/etc/x.yaml' },
      ],
      problems: [
        { message: 'bad key', file: '/home/ada/.config/hpc-jupyter/clusters.yaml', line: 3 },
      ],
      templates: [{ name: 'jupyter', title: 'JupyterLab', description: '', kind: 'server' }],
      profiles: [
        {
          name: 'lab2',
          displayName: 'Lab 2',
          cluster: 'lab',
          template: 'jupyter',
          params: { nodes: 2 },
        },
        { name: 'k', displayName: 'Kernel', cluster: 'lab', template: 'kernel', params: {} },
      ],
    });
    model.apply({
      type: 'snapshot',
      prompts: [],
      sessions: [
        readyJupyter('s1', { state: 'completed', createdAt: '2025-01-03T00:00:00Z' }),
        readyJupyter('s2', { createdAt: '2025-01-01T00:00:00Z' }),
        readyJupyter('s3', {
          state: 'queued',
          createdAt: '2025-01-02T00:00:00Z',
          reason: 'Priority',
          startedAt: undefined,
        }),
        readyJupyter('s4', { cluster: 'gone' }),
      ],
    });
    const roots = tree.getChildren();
    expect(labels(tree, roots)).toEqual([
      'local [cluster]',
      'lab [cluster]',
      'gone [cluster]',
      'Configuration problems [undefined]'.replace('undefined', ''),
    ]);
    const lab = roots[1] as HpcNode;
    expect(labels(tree, tree.getChildren(lab))).toEqual([
      'Lab 2 [profile-server]',
      'Kernel [profile]',
      'JupyterLab s3 [session-pending]',
      'JupyterLab s2 [session-ready]',
      'JupyterLab s1 [session-ended]',
    ]);
    const queued = tree.getTreeItem({ kind: 'session', id: 's3' });
    expect(queued.description).toBe('queued (Priority)');
    const problems = tree.getChildren(roots[3]);
    const problem = tree.getTreeItem(problems[0] as HpcNode);
    expect(problem.description).toBe('/home/ada/.config/hpc-jupyter/clusters.yaml:3');
    expect(problem.command?.command).toBe('vscode.open');
  });

  it('marks unreachable clusters and redraws on changes', () => {
    const { model, tree } = setup();
    let redraws = 0;
    tree.onDidChangeTreeData(() => redraws++);
    model.setCatalog({
      clusters: [{ name: 'lab', scheduler: 'slurm', host: 'login', source: 'x' }],
      problems: [],
      templates: [],
      profiles: [],
    });
    model.apply({ type: 'cluster', cluster: 'lab', reachable: false, error: 'Connection refused' });
    const item = tree.getTreeItem({ kind: 'cluster', name: 'lab' });
    expect((item.iconPath as vscode.ThemeIcon).id).toBe('warning');
    expect(item.tooltip).toContain('Not reachable: Connection refused');
    expect(redraws).toBe(2);
  });

  it('gives sessions context values for their menus', () => {
    const dashboards = readyJupyter('s1', {
      connection: {
        kind: 'jupyter',
        endpoints: [
          { name: 'jupyter', host: 'n', port: 1 },
          { name: 'dask-dashboard', host: 'n', port: 2 },
        ],
      },
    });
    expect(sessionContext(dashboards)).toBe('session-ready-dashboards');
    expect(sessionContext(readyJupyter('s2'))).toBe('session-ready');
    expect(sessionContext(readyJupyter('s3', { state: 'unknown' }))).toBe('session-pending');
    expect(sessionContext(readyJupyter('s4', { state: 'stopping' }))).toBe('session-stopping');
    expect(sessionContext(readyJupyter('s5', { state: 'timed-out' }))).toBe('session-ended');
  });
});
