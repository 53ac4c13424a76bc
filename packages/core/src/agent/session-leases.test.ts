// Leases: a session whose client is gone is stopped after the grace, unless it is leased again
// or held (a restart); the HTTP routes stream the lease and take holds.
import http from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { startTestAgent, type TestAgent } from './agent-test-harness.js';
import { fakeRecord } from './fake-session-service.js';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SessionStore } from '../sessions/session-store.js';
import { RESTORED_GRACE_MS, SessionLeases } from './session-leases.js';

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

describe('SessionLeases kept in the session store', () => {
  let root: string;
  afterEach(async () => {
    vi.useRealTimers();
    await rm(root, { recursive: true, force: true });
  });

  it('a later agent stops a leased session whose launcher never comes back, and keeps one whose launcher does', async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-leases-'));
    const store = new SessionStore(root);
    const first = new SessionLeases({ stop: () => Promise.resolve(), store });
    first.open('s000000000001', 5000);
    first.open('s000000000002', 5000);
    first.open('s000000000003', 5000);
    await first.stored();
    // kill -9: no dispose, the file stays as it was.
    expect((await store.loadLeases()).entries.map((e) => e.id)).toEqual([
      's000000000001',
      's000000000002',
      's000000000003',
    ]);
    vi.useFakeTimers();
    const stopped: string[] = [];
    const second = new SessionLeases({
      stop: (id) => {
        stopped.push(id);
        return Promise.resolve();
      },
      store,
    });
    // s3 ended while no agent ran: dropped, never stopped.
    await second.restore((id) => id !== 's000000000003');
    expect(second.pending('s000000000001')).toBe(true);
    vi.advanceTimersByTime(RESTORED_GRACE_MS - 1000);
    second.open('s000000000002'); // its launcher found the new agent
    vi.advanceTimersByTime(2000);
    expect(stopped).toEqual(['s000000000001']);
    await vi.runOnlyPendingTimersAsync();
    await second.stored();
    vi.useRealTimers();
    expect((await store.loadLeases()).entries.map((e) => e.id)).toEqual(['s000000000002']);
  });

  it('tries a failed stop again, and forgets a session that ended', async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-leases-'));
    vi.useFakeTimers();
    let fails = 1;
    const stopped: string[] = [];
    const l = new SessionLeases({
      stop: (id) => {
        if (fails-- > 0) return Promise.reject(new Error('cluster unreachable'));
        stopped.push(id);
        return Promise.resolve();
      },
    });
    l.open('s1', 1000).release();
    l.open('s2', 1000).release();
    l.forget('s2');
    await vi.advanceTimersByTimeAsync(1000);
    expect(stopped).toEqual([]);
    await vi.advanceTimersByTimeAsync(30_000);
    expect(stopped).toEqual(['s1']);
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
