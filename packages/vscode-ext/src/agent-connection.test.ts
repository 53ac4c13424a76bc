import { afterEach, describe, expect, it } from 'vitest';
import { AgentClient } from '@hpc-jupyter/core';
import { startTestAgent, type TestAgent } from '../../core/src/agent/agent-test-harness.js';
import { AgentConnection, type AgentApi, describe as describeError } from './agent-connection';
import { SessionsModel } from './sessions-model';
import { readyJupyter, until } from './test-agent.testutil';

let agent: TestAgent | undefined;
let connection: AgentConnection | undefined;
afterEach(async () => {
  await connection?.dispose();
  await agent?.close();
  connection = undefined;
  agent = undefined;
});

describe('AgentConnection', () => {
  it('starts the agent only once it is wanted, and follows its events', async () => {
    agent = await startTestAgent();
    const a = agent;
    a.sessions.put(readyJupyter('s1'));
    const model = new SessionsModel();
    const starts: boolean[] = [];
    let running = false;
    connection = new AgentConnection({
      model,
      log: () => undefined,
      loadProfiles: () => Promise.resolve([]),
      retryDelaysMs: [20],
      connect: ({ start }) => {
        starts.push(start);
        if (!start && !running) return Promise.reject(new Error('not running'));
        running = true;
        return Promise.resolve(new AgentClient(a.socketPath) as AgentApi);
      },
    });
    connection.start();
    await until(() => starts.length >= 2);
    expect(model.loaded).toBe(false);
    expect(model.error).toBe('not running');
    connection.demand();
    await until(() => model.loaded);
    expect(starts).toContain(true);
    expect(model.sessions.map((s) => s.id)).toEqual(['s1']);
    expect(model.catalog.templates.map((t) => t.name)).toEqual(['jupyter']);
    a.sessions.update('s1', { state: 'stopping' });
    await until(() => model.session('s1')?.state === 'stopping');
  });

  it('describes errors with their hints', () => {
    class Hinted extends Error {
      describe(): string {
        return `${this.message}\nDo this.`;
      }
    }
    expect(describeError(new Hinted('Failed.'))).toBe('Failed.\nDo this.');
    expect(describeError(new Error('Plain.'))).toBe('Plain.');
    expect(describeError('text')).toBe('text');
  });
});
