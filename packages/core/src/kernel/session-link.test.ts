// The launcher's link starting a session with its connection file's key: leased in the same
// request (the agent refuses the key otherwise), that lease kept by `hold`, released by `close`.
import { afterEach, describe, expect, it } from 'vitest';
import { startTestAgent, type TestAgent } from '../agent/agent-test-harness.js';
import { SessionLink } from './session-link.js';

let agent: TestAgent | undefined;
afterEach(async () => {
  await agent?.close();
  agent = undefined;
});

describe('SessionLink', () => {
  it('starts a keyed session leased from the start and holds that one lease', async () => {
    agent = await startTestAgent();
    const problems: string[] = [];
    const link = await SessionLink.connect(agent.env, (m) => problems.push(m));
    const record = await link.start({
      cluster: 'local',
      template: 'kernel',
      params: {},
      kernelKey: 'c0ffee00-1111-4222-8333-444455556666',
    });
    expect(agent.server.leases.count(record.id)).toBe(1);
    // The launcher leases the session next: the lease it has is the one held.
    await link.hold(record.id);
    expect(agent.server.leases.count(record.id)).toBe(1);
    link.close();
    await expect.poll(() => agent?.server.leases.count(record.id)).toBe(0);
    expect(agent.server.leases.pending(record.id)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('starts a session without a key as a plain start, leased only by hold', async () => {
    agent = await startTestAgent();
    const link = await SessionLink.connect(agent.env, () => undefined);
    const record = await link.start({ cluster: 'local', template: 'jupyter', params: {} });
    expect(agent.server.leases.count(record.id)).toBe(0);
    await link.hold(record.id);
    expect(agent.server.leases.count(record.id)).toBe(1);
    link.close();
  });
});
