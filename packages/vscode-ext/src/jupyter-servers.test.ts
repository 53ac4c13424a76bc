import { describe, expect, it } from 'vitest';
import {
  isJupyterSession,
  isListedServer,
  LastKnownServers,
  serverEntries,
  serverLabel,
  type StateStore,
} from './jupyter-servers';
import { readyJupyter } from './test-agent.testutil';

const TEMPLATES = [
  { name: 'jupyter', title: 'JupyterLab', description: '', kind: 'server' as const },
  { name: 'kernel', title: 'Kernel', description: '', kind: 'kernel' as const },
];

function memory(): StateStore & { data: Map<string, unknown>; writes: number } {
  const data = new Map<string, unknown>();
  const store = {
    data,
    writes: 0,
    get: (key: string) => data.get(key),
    update: (key: string, value: unknown) => {
      store.writes++;
      data.set(key, value);
      return Promise.resolve();
    },
  };
  return store;
}

describe('jupyter-servers', () => {
  it('lists ready Jupyter sessions and those unknown after being ready, oldest first', () => {
    const a = readyJupyter('s00000000000a', { createdAt: '2025-01-02T00:00:00Z' });
    const b = readyJupyter('s00000000000b', {
      createdAt: '2025-01-01T00:00:00Z',
      state: 'unknown',
    });
    const queued = readyJupyter('s00000000000c', { state: 'queued', readyAt: undefined });
    const unknownNeverReady = readyJupyter('s00000000000d', {
      state: 'unknown',
      readyAt: undefined,
    });
    const ended = readyJupyter('s00000000000e', { state: 'completed' });
    const kernel = readyJupyter('s00000000000f', {
      template: 'kernel',
      connection: { kind: 'kernel', endpoints: [] },
    });
    const entries = serverEntries([a, b, queued, unknownNeverReady, ended, kernel], TEMPLATES);
    expect(entries.map((e) => e.id)).toEqual(['s00000000000b', 's00000000000a']);
    expect(entries[0]?.label).toBe('JupyterLab s00000000000b · job 1234');
    expect(isListedServer(queued)).toBe(false);
  });

  it('tells Jupyter sessions by their connection, else by the template kind', () => {
    const pending = readyJupyter('s000000000001', { state: 'queued', connection: undefined });
    expect(isJupyterSession(pending, TEMPLATES)).toBe(true);
    expect(isJupyterSession({ ...pending, template: 'kernel' }, TEMPLATES)).toBe(false);
    // Templates not known yet: only `jupyter` is taken for a server.
    expect(isJupyterSession(pending, [])).toBe(true);
    expect(isJupyterSession({ ...pending, template: 'spark' }, [])).toBe(false);
    expect(serverLabel({ ...pending, jobId: undefined })).toBe('JupyterLab s000000000001');
  });

  it('keeps the last list in the global state and writes only changes', async () => {
    const store = memory();
    const last = new LastKnownServers(store);
    expect(last.get()).toEqual([]);
    await last.set([{ id: 's1', label: 'one' }]);
    await last.set([{ id: 's1', label: 'one' }]);
    expect(store.writes).toBe(1);
    expect(new LastKnownServers(store).get()).toEqual([{ id: 's1', label: 'one' }]);
    store.data.set('hpcJupyter.lastKnownServers', [{ id: 3 }, 'x', { id: 's2', label: 'two' }]);
    expect(last.get()).toEqual([{ id: 's2', label: 'two' }]);
  });
});
