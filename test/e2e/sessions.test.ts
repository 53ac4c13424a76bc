/**
 * Sessions end to end, as a user runs them: `hpc-jupyter start jupyter --cluster testlab` over
 * SSH as the test user, a real Jupyter client through the tunnel, stop, and the job leaves the
 * queue. Also the agent's proxy, which serves a session's own server and nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import { executeOnServer } from './jupyter-client.js';
import { cli, waitLeftSqueue, privateAgentEnv, testCluster, type TestCluster } from './support.js';

let cluster: TestCluster;
let env: Record<string, string>;
let agent: AgentClient;

beforeAll(async () => {
  cluster = await testCluster();
  env = privateAgentEnv(cluster.configFile);
  agent = new AgentClient(agentSocketPath(env));
});

afterAll(async () => {
  await cli(['agent', 'stop'], env);
});

interface Started {
  readonly id: string;
  readonly url: string;
  readonly token: string;
  readonly jobId: string;
}

async function startJupyter(): Promise<Started> {
  const started = await cli(
    ['start', 'jupyter', '--cluster', 'testlab', '--hours', '1', '--json'],
    env,
  );
  expect(started.code, started.stderr).toBe(0);
  const out = JSON.parse(started.stdout) as {
    session: { id: string; jobId: string };
    url: string;
    token: string;
  };
  return { id: out.session.id, url: out.url, token: out.token, jobId: out.session.jobId };
}

describe('a JupyterLab session on the Slurm test cluster', () => {
  let session: Started;

  it('starts, answers through the tunnel, and runs code on a compute node', async () => {
    session = await startJupyter();
    expect(session.url).toMatch(
      new RegExp(`^http://127\\.0\\.0\\.1:\\d+/sessions/${session.id}/lab\\?token=`),
    );
    const baseUrl = session.url.replace(/lab\?token=.*$/, '');
    const result = await executeOnServer(
      baseUrl,
      session.token,
      'import socket; print(socket.gethostname())',
    );
    expect(result.status).toBe('ok');
    const record = await agent.session(session.id);
    expect(record.state).toBe('ready');
    expect(record.nodes).toHaveLength(1);
    expect(result.stdout.trim()).toBe(record.nodes?.[0]);
    expect(result.stdout.trim()).toMatch(/^node[1-4]$/);
  });

  it('serves the session through the agent proxy, and nothing else', async () => {
    const socketPath = agentSocketPath(env);
    const get = (path: string, headers: Record<string, string> = {}): Promise<number> =>
      import('node:http').then(
        (http) =>
          new Promise<number>((resolve, reject) => {
            const req = http.request({ socketPath, path, headers }, (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            });
            req.on('error', reject);
            req.end();
          }),
      );
    expect(
      await get(`/sessions/${session.id}/api/status`, { authorization: `token ${session.token}` }),
    ).toBe(200);
    expect(await get(`/sessions/${session.id}/api/status`)).toBe(403);
    expect(await get('/sessions/s000000000000/api/status')).toBe(404);
    expect(await get('/sessions/10.77.0.11:22/')).toBe(404);
    expect(await get(`/proxy/10.77.0.1/22`)).toBe(404);
    expect(await get(`/sessions/${session.id}/../../v1/health`)).not.toBe(200);
  });

  it('stops: the job is cancelled and leaves the queue', async () => {
    const stopped = await cli(['stop', session.id], env);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toContain('cancelled');
    await waitLeftSqueue(session.jobId, 90_000, 'stop');
  });
});
