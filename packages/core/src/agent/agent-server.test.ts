import http from 'node:http';
import { stat } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/parse.js';
import { mergeConfigFiles } from '../config/load.js';
import { AgentError, InvalidParametersError, NotFoundError, SshError } from '../errors.js';
import { fakeRecord } from './fake-session-service.js';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

/**
 * A raw request, for status codes and bodies the typed client would turn into errors. It sends
 * what every client sends (the header, JSON); agent-guard.test.ts covers requests without.
 */
function raw(
  socketPath: string,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  const headers = {
    'x-hpc-jupyter': '1',
    ...(body === undefined ? {} : { 'content-type': 'application/json' }),
  };
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function rejection(promise: Promise<unknown>): Promise<AgentError> {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

describe('agent API', () => {
  it('listens on a 0600 socket in a 0700 directory and answers health', async () => {
    agent = await startTestAgent();
    expect((await stat(agent.socketPath)).mode & 0o777).toBe(0o600);
    agent.sessions.put(fakeRecord('s000000000001', { state: 'completed' }));
    agent.sessions.put(fakeRecord('s000000000002', { state: 'queued' }));
    const health = await agent.client.health();
    expect(health).toMatchObject({
      version: '0.0.0-test',
      pid: process.pid,
      sessions: 2,
      liveSessions: 1,
      eventClients: 0,
    });
  });

  it('lists clusters with the config problems, and site info', async () => {
    const file = parseConfigText(
      'clusters:\n  good:\n    scheduler: slurm\n    ssh: { host: login.example.org }\n  bad:\n    scheduler: nope\n',
      '/etc/x.yaml',
    );
    agent = await startTestAgent({ config: mergeConfigFiles([file]) });
    const { clusters, problems } = await agent.client.clusters();
    expect(clusters.map((c) => c.name).sort()).toEqual(['good', 'local']);
    expect(clusters.find((c) => c.name === 'good')).toMatchObject({
      scheduler: 'slurm',
      host: 'login.example.org',
      source: '/etc/x.yaml',
    });
    expect(problems.length).toBeGreaterThan(0);
    expect((await agent.client.site('good')).accounts).toEqual(['proj1']);
    expect((await rejection(agent.client.site('nowhere'))).status).toBe(404);
    // A cluster whose entry is broken answers with its problem, a client error.
    const broken = await rejection(agent.client.site('bad'));
    expect(broken.status).toBe(400);
    expect(broken.kind).toBe('ConfigError');
  });

  it('serves templates and forms, and needs a cluster for a form', async () => {
    agent = await startTestAgent();
    expect((await agent.client.templates()).map((t) => t.name)).toEqual(['jupyter']);
    expect((await agent.client.templateForm('jupyter', 'local')).title).toBe('jupyter on local');
    const res = await raw(agent.socketPath, 'GET', '/v1/templates/jupyter/form');
    expect(res.status).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error: { kind: 'InvalidInputError' } });
  });

  it('starts, gets, stops, adopts and forgets sessions', async () => {
    agent = await startTestAgent();
    const res = await raw(
      agent.socketPath,
      'POST',
      '/v1/sessions',
      JSON.stringify({ cluster: 'local', template: 'jupyter', params: { nodes: 2 } }),
    );
    expect(res.status).toBe(201);
    const started = JSON.parse(res.text) as { id: string; params: unknown };
    expect(started.params).toEqual({ nodes: 2 });
    expect((await agent.client.session(started.id)).state).toBe('queued');
    expect((await agent.client.sessions()).length).toBe(1);
    expect((await agent.client.stopSession(started.id)).state).toBe('stopping');
    // Forgetting a live session is a conflict (the fake, like the manager, refuses it).
    expect((await rejection(agent.client.forgetSession(started.id))).status).toBe(409);
    agent.sessions.update(started.id, { state: 'cancelled' });
    await agent.client.forgetSession(started.id);
    expect(await agent.client.sessions()).toEqual([]);
    expect((await rejection(agent.client.stopSession(started.id))).status).toBe(404);

    agent.sessions.discoverable = [fakeRecord('s00000000000d', { discovered: true })];
    expect((await agent.client.discover('local')).map((s) => s.id)).toEqual(['s00000000000d']);
    expect((await agent.client.adoptSession('s00000000000d')).discovered).toBe(false);
    expect(agent.sessions.calls).toContain('discover local');
  });

  it('rejects malformed session specs with 400 and names the problem', async () => {
    agent = await startTestAgent();
    for (const body of [
      '{"cluster": "local"}',
      '{"cluster": "local", "template": "jupyter", "params": {"a": [1]}}',
      'not json',
      '[]',
    ]) {
      const res = await raw(agent.socketPath, 'POST', '/v1/sessions', body);
      expect(res.status, body).toBe(400);
      const parsed = JSON.parse(res.text) as { error: { message: string; kind: string } };
      expect(parsed.error.kind).toBe('InvalidInputError');
      expect(parsed.error.message.length).toBeGreaterThan(0);
    }
    expect(agent.sessions.calls).toEqual([]);
  });

  it('passes invalid parameters through with every problem, as InvalidParametersError', async () => {
    agent = await startTestAgent();
    agent.sessions.failures.set(
      'start',
      new InvalidParametersError('jupyter', [{ param: 'nodes', message: 'nodes: at most 2' }]),
    );
    const err: unknown = await agent.client
      .startSession({ cluster: 'local', template: 'jupyter', params: { nodes: 9 } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidParametersError);
    expect((err as InvalidParametersError).problems).toEqual([
      { param: 'nodes', message: 'nodes: at most 2' },
    ]);
  });

  it('answers 502 when the cluster cannot be reached', async () => {
    agent = await startTestAgent();
    agent.sessions.failures.set(
      'discover',
      new SshError('Cannot connect to login.example.org.', 'login.example.org', {
        hint: 'Check the VPN.',
      }),
    );
    const err = await rejection(agent.client.discover('local'));
    expect(err.status).toBe(502);
    expect(err.kind).toBe('SshError');
    expect(err.hint).toBe('Check the VPN.');
  });

  it('returns logs with a bounded line count', async () => {
    agent = await startTestAgent();
    agent.sessions.put(fakeRecord('s000000000001'));
    expect(await agent.client.logs('s000000000001', { lines: 50 })).toBe('log of s000000000001\n');
    expect(agent.sessions.calls).toContain('logs s000000000001 50');
    for (const lines of ['0', '-1', 'abc', '1000000']) {
      const res = await raw(
        agent.socketPath,
        'GET',
        `/v1/sessions/s000000000001/logs?lines=${lines}`,
      );
      expect(res.status, lines).toBe(400);
    }
  });

  it('gives local access with the token, only for a ready session', async () => {
    agent = await startTestAgent();
    agent.sessions.put(
      fakeRecord('s000000000001', {
        state: 'ready',
        connection: { kind: 'jupyter', endpoints: [{ name: 'jupyter', host: 'n1', port: 8888 }] },
      }),
    );
    const access = await agent.client.access('s000000000001', { endpoint: 'jupyter' });
    expect(access).toMatchObject({
      url: 'http://127.0.0.1:8888/',
      localPort: 8888,
      token: 'token-of-s000000000001',
    });
    agent.sessions.put(fakeRecord('s000000000002', { state: 'queued' }));
    expect((await rejection(agent.client.access('s000000000002'))).status).toBe(409);
  });

  it('answers unknown routes with 404 and wrong methods with 405, as JSON', async () => {
    agent = await startTestAgent();
    const notFound = await raw(agent.socketPath, 'GET', '/v1/nope');
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.text)).toMatchObject({ error: { kind: 'NotFoundError' } });
    const outside = await raw(agent.socketPath, 'GET', '/etc/passwd');
    expect(outside.status).toBe(404);
    const wrong = await raw(agent.socketPath, 'PUT', '/v1/sessions');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.allow).toBe('GET, POST');
    const absolute = await raw(agent.socketPath, 'GET', 'http://example.org/v1/health');
    expect(absolute.status).toBe(400);
  });

  it('answers shutdown before asking to stop', async () => {
    agent = await startTestAgent();
    await agent.client.shutdown();
    await new Promise((r) => setTimeout(r, 20));
    expect(agent.shutdownRequests).toBe(1);
  });

  it('reports a missing agent as AgentError with a hint', async () => {
    agent = await startTestAgent();
    const socketPath = agent.socketPath;
    await agent.close();
    agent = undefined;
    const { AgentClient } = await import('./agent-client.js');
    const err = await rejection(new AgentClient(socketPath).health());
    expect(err.kind).toBe('AgentUnreachable');
    expect(err.hint).toMatch(/hpc-jupyter agent/);
    expect(err).not.toBeInstanceOf(NotFoundError);
  });
});
