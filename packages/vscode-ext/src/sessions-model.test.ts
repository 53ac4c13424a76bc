import { describe, expect, it } from 'vitest';
import type { PromptEvent } from '@hpc-jupyter/core';
import { SessionsModel } from './sessions-model';
import { readyJupyter } from './test-agent.testutil';

const PROMPT: PromptEvent = {
  id: 'p1',
  cluster: 'lab',
  kind: 'password',
  message: "ada@login's password:",
  createdAt: '2025-01-01T00:00:00Z',
};

describe('SessionsModel', () => {
  it('takes a snapshot, then changes, and announces each', () => {
    const model = new SessionsModel();
    let changes = 0;
    model.onDidChange(() => changes++);
    expect(model.loaded).toBe(false);
    model.apply({ type: 'snapshot', sessions: [readyJupyter('s1')], prompts: [] });
    expect(model.loaded).toBe(true);
    expect(model.live).toBe(true);
    model.apply({ type: 'session', session: readyJupyter('s2') });
    model.apply({ type: 'session-removed', id: 's1' });
    model.apply({ type: 'session-removed', id: 'nope' });
    expect(model.sessions.map((s) => s.id)).toEqual(['s2']);
    expect(changes).toBe(3);
  });

  it('keeps what it knows when the agent goes away', () => {
    const model = new SessionsModel();
    model.apply({ type: 'snapshot', sessions: [readyJupyter('s1')], prompts: [] });
    model.setDisconnected('The agent stopped.');
    expect(model.live).toBe(false);
    expect(model.loaded).toBe(true);
    expect(model.error).toBe('The agent stopped.');
    expect(model.sessions).toHaveLength(1);
  });

  it('never lets an older record replace a newer one', () => {
    const model = new SessionsModel();
    const newer = readyJupyter('s1', { updatedAt: '2025-01-01T00:00:02Z' });
    model.upsert(newer);
    model.upsert({ ...newer, state: 'queued', updatedAt: '2025-01-01T00:00:01Z' });
    expect(model.session('s1')?.state).toBe('ready');
  });

  it('announces new prompts once, and prompts answered or gone', () => {
    const model = new SessionsModel();
    const asked: string[] = [];
    const answered: string[] = [];
    model.onPrompt((p) => asked.push(p.id));
    model.onPromptAnswered((id) => answered.push(id));
    model.apply({ type: 'prompt', prompt: PROMPT });
    model.apply({ type: 'prompt', prompt: PROMPT });
    model.apply({ type: 'snapshot', sessions: [], prompts: [PROMPT, { ...PROMPT, id: 'p2' }] });
    model.apply({ type: 'prompt-answered', id: 'p2' });
    model.apply({ type: 'snapshot', sessions: [], prompts: [] });
    expect(asked).toEqual(['p1', 'p2']);
    expect(answered).toEqual(['p2', 'p1']);
    expect(model.prompts).toEqual([]);
  });

  it('records whether clusters answer', () => {
    const model = new SessionsModel();
    model.apply({ type: 'cluster', cluster: 'lab', reachable: false, error: 'timeout' });
    expect(model.clusterState('lab')).toEqual({ reachable: false, error: 'timeout' });
  });

  it('waits for the first snapshot, or gives up', async () => {
    const model = new SessionsModel();
    expect(await model.whenLoaded(20)).toBe(false);
    const waiting = model.whenLoaded(5000);
    model.apply({ type: 'snapshot', sessions: [], prompts: [] });
    expect(await waiting).toBe(true);
    const aborted = new AbortController();
    const other = new SessionsModel().whenLoaded(5000, aborted.signal);
    aborted.abort();
    expect(await other).toBe(false);
  });
});
