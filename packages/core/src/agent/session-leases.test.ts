// Leases: a session whose client is gone is stopped after the grace, unless it is leased again
// or held (a restart); the HTTP routes stream the lease and take holds.
import http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';
import { fakeRecord } from './fake-session-service.js';
import { SessionLeases } from './session-leases.js';

describe('SessionLeases', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function leases(): { leases: SessionLeases; stopped: string[] } {
    const stopped: string[] = [];
    return {
      stopped,
      leases: new SessionLeases({
        stop: (id) => {
          stopped.push(id);
          return Promise.resolve();
        },
      }),
    };
  }

  it('stops a session once its last lease has been gone for the grace period', () => {
    vi.useFakeTimers();
    const { leases: l, stopped } = leases();
    const a = l.open('s1', 10_000);
    const b = l.open('s1', 10_000);
    a.release();
    vi.advanceTimersByTime(60_000);
    expect(stopped).toEqual([]);
    b.release();
    b.release();
    expect(l.pending('s1')).toBe(true);
    vi.advanceTimersByTime(9_999);
    expect(stopped).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(stopped).toEqual(['s1']);
  });

  it('keeps a session leased again within the grace, or held', () => {
    vi.useFakeTimers();
    const { leases: l, stopped } = leases();
    l.open('s1').release();
    vi.advanceTimersByTime(5_000);
    const again = l.open('s1');
    vi.advanceTimersByTime(60_000);
    expect(stopped).toEqual([]);
    l.hold('s1', 60_000);
    again.release();
    vi.advanceTimersByTime(59_000);
    expect(stopped).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(stopped).toEqual(['s1']);
  });

  it('stops nothing once disposed (the agent is going away, the jobs stay)', () => {
    vi.useFakeTimers();
    const { leases: l, stopped } = leases();
    l.open('s1', 1000).release();
    l.dispose();
    vi.advanceTimersByTime(10_000);
    expect(stopped).toEqual([]);
  });
});

describe('the lease and hold routes', () => {
  let agent: TestAgent;
  afterEach(async () => {
    await agent.close();
  });

  it('stream a lease; closing it stops the session after the grace; a hold delays that', async () => {
    agent = await startTestAgent();
    agent.sessions.put(fakeRecord('s0123456789ab', { state: 'ready', jobId: '7' }));
    const lease = await agent.client.lease('s0123456789ab', { graceSeconds: 0.2 });
    expect(agent.server.leases.count('s0123456789ab')).toBe(1);
    const held = await agent.client.holdSession('s0123456789ab', 0.6);
    expect(Date.parse(held.until)).toBeGreaterThan(Date.now() + 400);
    lease.release();
    await new Promise((r) => setTimeout(r, 350));
    expect(agent.sessions.calls).not.toContain('stop s0123456789ab');
    await new Promise((r) => setTimeout(r, 500));
    expect(agent.sessions.calls).toContain('stop s0123456789ab');
  });

  it('stop the session when the client dies without a word', async () => {
    agent = await startTestAgent();
    agent.sessions.put(fakeRecord('s0123456789ab', { state: 'queued', jobId: '8' }));
    const req = http.request({
      socketPath: agent.socketPath,
      method: 'POST',
      path: '/v1/sessions/s0123456789ab/lease',
      headers: { 'content-type': 'application/json', 'x-hpc-jupyter': '1' },
    });
    const first = await new Promise<string>((resolve) => {
      req.on('response', (res) => {
        res.once('data', (d: Buffer) => {
          resolve(d.toString());
        });
      });
      req.end(JSON.stringify({ graceSeconds: 0.1 }));
    });
    expect(JSON.parse(first)).toEqual({ type: 'lease', id: 's0123456789ab', graceSeconds: 0.1 });
    req.destroy();
    await new Promise((r) => setTimeout(r, 400));
    expect(agent.sessions.calls).toContain('stop s0123456789ab');
  });

  it('refuse unknown sessions and bad periods', async () => {
    agent = await startTestAgent();
    await expect(agent.client.lease('s000000000000')).rejects.toThrow(/No session/);
    agent.sessions.put(fakeRecord('s0123456789ab'));
    await expect(agent.client.holdSession('s0123456789ab', 0)).rejects.toThrow(/seconds/);
    await expect(agent.client.lease('s0123456789ab', { graceSeconds: 99_999 })).rejects.toThrow(
      /graceSeconds/,
    );
  });
});
