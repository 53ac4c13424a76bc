import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentStreamEvent } from './api-types.js';
import { fakeRecord } from './fake-session-service.js';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';
import { SseParser } from './sse-parser.js';

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

/** Collects a client's events; `until` resolves once `count` have arrived. */
function subscribe(t: TestAgent): {
  events: AgentStreamEvent[];
  until: (count: number) => Promise<void>;
  stop: () => void;
  ended: Promise<void>;
} {
  const controller = new AbortController();
  const events: AgentStreamEvent[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  const ended = t.client.events((event) => {
    events.push(event);
    for (const w of waiters) if (events.length >= w.count) w.resolve();
  }, controller.signal);
  return {
    events,
    ended,
    stop: () => {
      controller.abort();
    },
    until: (count) =>
      new Promise((resolve) => {
        if (events.length >= count) resolve();
        else waiters.push({ count, resolve });
      }),
  };
}

describe('event stream', () => {
  it('sends a snapshot first, then the same events to every client', async () => {
    agent = await startTestAgent();
    agent.sessions.put(fakeRecord('s000000000001'));
    const a = subscribe(agent);
    const b = subscribe(agent);
    await a.until(1);
    await b.until(1);
    expect(a.events[0]).toMatchObject({ type: 'snapshot', prompts: [] });
    expect(a.events[0]?.type === 'snapshot' && a.events[0].sessions.map((s) => s.id)).toEqual([
      's000000000001',
    ]);
    expect((await agent.client.health()).eventClients).toBe(2);

    agent.sessions.update('s000000000001', { state: 'ready' });
    agent.sessions.emit({ type: 'cluster', cluster: 'local', reachable: false, error: 'down' });
    await a.until(3);
    await b.until(3);
    for (const client of [a, b]) {
      expect(client.events.slice(1).map((e) => e.type)).toEqual(['session', 'cluster']);
      const changed = client.events[1];
      expect(changed?.type === 'session' && changed.session.state).toBe('ready');
    }

    a.stop();
    await a.ended;
    // The server notices the closed stream; b still gets events.
    await new Promise((r) => setTimeout(r, 50));
    expect(agent.server.events.clientCount).toBe(1);
    agent.sessions.emit({ type: 'session-removed', id: 's000000000001' });
    await b.until(4);
    expect(b.events[3]).toEqual({ type: 'session-removed', id: 's000000000001' });
    expect(a.events.length).toBe(3);
    b.stop();
  });

  it('sends heartbeat comments to keep proxies from closing idle streams', async () => {
    agent = await startTestAgent({ heartbeatMs: 30 });
    const socketPath = agent.socketPath;
    const text = await new Promise<string>((resolve, reject) => {
      const req = http.get({ socketPath, path: '/v1/events' }, (res) => {
        expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
        let seen = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          seen += c;
          if (seen.includes(': heartbeat')) {
            req.destroy();
            resolve(seen);
          }
        });
      });
      req.on('error', reject);
    });
    expect(text).toMatch(/^retry: \d+\n\nevent: snapshot\ndata: \{.*\}\n\n/);
  });

  it('ends the streams when the server closes', async () => {
    agent = await startTestAgent();
    const a = subscribe(agent);
    await a.until(1);
    await agent.close();
    agent = undefined;
    await a.ended;
  });
});

describe('SseParser', () => {
  it('handles split chunks, CRLF, comments and multi-line data', () => {
    const parser = new SseParser();
    expect(parser.push(': hi\r\nevent: a\r\ndata: 1\r')).toEqual([]);
    expect(parser.push('\ndata: 2\r\n\r\nda')).toEqual([{ event: 'a', data: '1\n2' }]);
    expect(parser.push('ta:x\n\n')).toEqual([{ event: 'message', data: 'x' }]);
    expect(parser.push('event: only\n\n')).toEqual([]);
  });
});
