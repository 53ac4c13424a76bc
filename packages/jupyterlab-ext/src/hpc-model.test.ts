import { describe, expect, it } from 'vitest';
import type { PromptEvent } from './agent-types.js';
import { HpcModel } from './hpc-model.js';
import { session } from './fixtures.testutil.js';

const PROMPT: PromptEvent = {
  id: 'p1',
  cluster: 'testlab',
  kind: 'password',
  message: "hpcjtest@login's password:",
  createdAt: '2026-01-01T10:00:00.000Z',
};

describe('HpcModel', () => {
  it('takes the snapshot, then applies changes, newest session first', () => {
    const model = new HpcModel();
    let changes = 0;
    model.onChange(() => changes++);
    expect(model.connection).toBe('connecting');
    model.apply({ type: 'snapshot', sessions: [session()], prompts: [] });
    expect(model.connection).toBe('live');
    model.apply({
      type: 'session',
      session: session({ id: 'snew', createdAt: '2026-01-01T11:00:00.000Z' }),
    });
    expect(model.sessions.map((s) => s.id)).toEqual(['snew', 's0123456789ab']);
    model.apply({ type: 'session', session: session({ state: 'ready' }) });
    expect(model.session('s0123456789ab')?.state).toBe('ready');
    model.apply({ type: 'session-removed', id: 'snew' });
    expect(model.sessions).toHaveLength(1);
    expect(changes).toBe(4);
  });

  it('replaces everything on a new snapshot (a reconnect)', () => {
    const model = new HpcModel();
    model.apply({ type: 'snapshot', sessions: [session()], prompts: [] });
    model.apply({ type: 'snapshot', sessions: [session({ id: 'sother' })], prompts: [] });
    expect(model.sessions.map((s) => s.id)).toEqual(['sother']);
  });

  it('announces each prompt once and forgets it when answered anywhere', () => {
    const model = new HpcModel();
    const asked: string[] = [];
    model.onPrompt((p) => asked.push(p.id));
    model.apply({ type: 'snapshot', sessions: [], prompts: [PROMPT] });
    model.apply({ type: 'prompt', prompt: PROMPT });
    model.apply({ type: 'snapshot', sessions: [], prompts: [PROMPT] });
    expect(asked).toEqual(['p1']);
    expect(model.promptOpen('p1')).toBe(true);
    model.apply({ type: 'prompt-answered', id: 'p1' });
    expect(model.promptOpen('p1')).toBe(false);
  });

  it('keeps cluster reachability and the connection state', () => {
    const model = new HpcModel();
    model.apply({ type: 'cluster', cluster: 'testlab', reachable: false, error: 'timeout' });
    expect(model.clusterStatus('testlab')).toEqual({ reachable: false, error: 'timeout' });
    model.setConnection('down', 'agent gone');
    expect(model.error).toBe('agent gone');
    model.setConnection('live');
    expect(model.error).toBeUndefined();
  });
});
