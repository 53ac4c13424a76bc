import { describe, expect, it } from 'vitest';
import { FakeVscode } from './fake-vscode.testutil';
import { SessionsModel } from './sessions-model';
import { SessionStatusBar, statusText } from './status-bar';
import { readyJupyter } from './test-agent.testutil';

describe('the status bar item', () => {
  it('counts live sessions by state', () => {
    expect(statusText(['ready', 'queued', 'ready', 'completed', 'stopping'])).toBe(
      '$(server-process) HPC: 2 ready, 1 queued',
    );
    expect(statusText(['failed'])).toBeUndefined();
  });

  it('shows while sessions live and hides when none do', () => {
    const fake = new FakeVscode();
    const model = new SessionsModel();
    const bar = new SessionStatusBar(fake.vs, model, () => Date.now());
    const item = fake.statusBarItems[0];
    expect(item?.visible).toBe(false);
    expect(item?.command).toBe('hpcJupyter.sessions.focus');
    model.upsert(readyJupyter('s1'));
    expect(item?.visible).toBe(true);
    expect(item?.text).toBe('$(server-process) HPC: 1 ready');
    expect(item?.tooltip).toContain('JupyterLab s1: ready on node1');
    model.upsert(readyJupyter('s1', { state: 'completed', updatedAt: '2999-01-01T00:00:00Z' }));
    expect(item?.visible).toBe(false);
    bar.dispose();
  });
});
