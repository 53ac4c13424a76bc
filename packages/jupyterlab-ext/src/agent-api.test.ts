import { describe, expect, it } from 'vitest';
import { AgentApi, AgentApiError, type FetchLike } from './agent-api.js';

interface Call {
  readonly url: string;
  readonly init: RequestInit;
}

function fakeFetch(status: number, body: unknown, calls: Call[] = []): FetchLike {
  return (url, init) => {
    calls.push({ url, init });
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return Promise.resolve(new Response(status === 204 ? null : text, { status }));
  };
}

describe('AgentApi', () => {
  it('reaches the agent under the proxy prefix, with escaped names', async () => {
    const calls: Call[] = [];
    const api = new AgentApi('/user/alice/', fakeFetch(200, { name: 'jupyter' }, calls));
    expect(api.eventsUrl).toBe('/user/alice/hpc-jupyter/v1/events');
    await api.templateForm('jupyter', 'my cluster');
    expect(calls[0]?.url).toBe(
      '/user/alice/hpc-jupyter/v1/templates/jupyter/form?cluster=my%20cluster',
    );
    expect(calls[0]?.init.method).toBe('GET');
  });

  it('posts a session spec as JSON and stops with DELETE', async () => {
    const calls: Call[] = [];
    const api = new AgentApi('/', fakeFetch(201, { id: 's1' }, calls));
    await api.startSession({ cluster: 'testlab', template: 'jupyter', params: { nodes: 2 } });
    await api.stopSession('s1');
    expect(calls[0]?.init.method).toBe('POST');
    expect(JSON.parse(calls[0]?.init.body as string)).toEqual({
      cluster: 'testlab',
      template: 'jupyter',
      params: { nodes: 2 },
    });
    expect(calls[1]?.url).toBe('/hpc-jupyter/v1/sessions/s1');
    expect(calls[1]?.init.method).toBe('DELETE');
  });

  it('sends X-HPC-Jupyter: 1 on every call, and JSON with every body', async () => {
    const calls: Call[] = [];
    const api = new AgentApi('/', fakeFetch(200, {}, calls));
    await api.clusters();
    await api.startSession({ cluster: 'testlab', template: 'jupyter', params: {} });
    await api.forgetSession('s1');
    await api.stopSession('s1');
    await api.answerPrompt('p1', { answer: 'x' });
    expect(calls.map((c) => c.init.method)).toEqual(['GET', 'POST', 'POST', 'DELETE', 'POST']);
    for (const call of calls) {
      const headers = new Headers(call.init.headers);
      expect(headers.get('x-hpc-jupyter'), call.url).toBe('1');
      expect(headers.get('content-type'), call.url).toBe(
        call.init.body === undefined ? null : 'application/json',
      );
    }
  });

  it('turns the agent’s error body into per-field problems', async () => {
    const api = new AgentApi(
      '/',
      fakeFetch(400, {
        error: {
          message: 'Invalid parameters for jupyter.',
          hint: 'Fix them.',
          kind: 'InvalidInputError',
          problems: [{ param: 'nodes', message: 'at most 4' }],
        },
      }),
    );
    const err = await api.startSession({ cluster: 'c', template: 't' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentApiError);
    expect((err as AgentApiError).message).toBe('Invalid parameters for jupyter. Fix them.');
    expect((err as AgentApiError).problems).toEqual({ nodes: 'at most 4' });
  });

  it('says how to start the agent when the proxy cannot reach it', async () => {
    const api = new AgentApi('/', fakeFetch(502, '<html>Bad Gateway</html>'));
    const err = (await api.clusters().catch((e: unknown) => e)) as AgentApiError;
    expect(err.agentDown).toBe(true);
    expect(err.message).toMatch(/agent is not running.*hpc-jupyter agent/);
  });
});
