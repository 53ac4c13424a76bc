/**
 * hpc_jupyter.agent (the Python client) against a real agent server on its unix socket: it
 * sends the header the agent wants, so state changes go through, and the agent's refusal of a
 * request without it reaches Python as an AgentError with the agent's message.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startTestAgent,
  type TestAgent,
} from '../../packages/core/src/agent/agent-test-harness.js';
import { fakeRecord } from '../../packages/core/src/agent/fake-session-service.js';

const execFileP = promisify(execFile);
const PACKAGE_DIR = new URL('.', import.meta.url).pathname;

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

async function python(code: string, env: Record<string, string>): Promise<string> {
  const { stdout } = await execFileP('python3', ['-c', code], {
    env: { ...process.env, ...env, PYTHONPATH: PACKAGE_DIR },
    timeout: 20_000,
  });
  return stdout.trim();
}

describe('hpc_jupyter.agent', () => {
  it('sends X-HPC-Jupyter, so stop (a DELETE) is served; a request without it is refused', async () => {
    agent = await startTestAgent();
    agent.sessions.put(fakeRecord('s000000000001', { state: 'queued' }));
    const out = await python(
      [
        'import json',
        'from hpc_jupyter import agent',
        'a = agent.Agent()',
        'print(json.dumps(a.stop("s000000000001")["state"]))',
        'agent.CLIENT_HEADERS.clear()',
        'try:',
        '    a.stop("s000000000001")',
        'except agent.AgentError as e:',
        '    print(json.dumps([e.status, e.kind, e.message]))',
      ].join('\n'),
      agent.env,
    );
    const [state, refused] = out.split('\n').map((l) => JSON.parse(l) as unknown);
    expect(state).toBe('stopping');
    expect(refused).toEqual([
      403,
      'RequestRefused',
      'Refused DELETE: it lacks the header "X-HPC-Jupyter: 1".',
    ]);
    expect(agent.sessions.calls).toEqual(['stop s000000000001']);
  });
});
