import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError } from '../errors.js';
import { AgentClient } from './agent-client.js';
import { runAgent, type AgentExitReason, type RunAgentOptions } from './agent-main.js';
import { emptyConfig, fakeTemplates } from './agent-test-harness.js';
import { FakeSessionService, fakeRecord } from './fake-session-service.js';
import { agentSocketPath } from './socket-path.js';

let dir: string;
let env: Record<string, string>;
let logFile: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-main-'));
  env = { XDG_RUNTIME_DIR: dir, XDG_STATE_HOME: path.join(dir, 'state') };
  logFile = path.join(dir, 'state', 'hpc-jupyter', 'agent.log');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Running {
  readonly sessions: FakeSessionService;
  readonly client: AgentClient;
  readonly exit: Promise<AgentExitReason>;
  /** Milliseconds from listening to exit. */
  exitedAfter(): Promise<number>;
}

async function start(options: Partial<RunAgentOptions> = {}): Promise<Running> {
  const sessions = new FakeSessionService();
  let listening: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (listening = resolve));
  const exit = runAgent({
    createSessions: () => sessions,
    createTemplates: () => fakeTemplates,
    config: emptyConfig(),
    env,
    homedir: dir,
    handleSignals: false,
    idleSeconds: 0.3,
    onListening: () => {
      listening();
    },
    ...options,
  });
  // A start-up failure must surface, not leave the test waiting for `ready`.
  await Promise.race([ready, exit]);
  const started = Date.now();
  return {
    sessions,
    client: new AgentClient(agentSocketPath(env)),
    exit,
    exitedAfter: async () => {
      await exit;
      return Date.now() - started;
    },
  };
}

describe('runAgent', () => {
  it('stops by itself when idle without sessions, closing everything it owns', async () => {
    const agent = await start();
    expect((await agent.client.health()).liveSessions).toBe(0);
    expect(await agent.exit).toBe('idle');
    expect(agent.sessions.closed).toBe(true);
    expect(existsSync(agentSocketPath(env))).toBe(false);
    expect((await stat(logFile)).mode & 0o777).toBe(0o600);
    expect(await readFile(logFile, 'utf8')).toMatch(/stopping \(idle\)/);
  });

  it('stays while a session is live, and stops once it has ended', async () => {
    const agent = await start({ idleSeconds: 0.2 });
    agent.sessions.put(fakeRecord('s000000000001', { state: 'unknown' }));
    await new Promise((r) => setTimeout(r, 700));
    expect((await agent.client.health()).liveSessions).toBe(1);
    agent.sessions.update('s000000000001', { state: 'failed' });
    expect(await agent.exit).toBe('idle');
  });

  it('stays while an event stream is attached', async () => {
    const agent = await start({ idleSeconds: 0.2 });
    const controller = new AbortController();
    const stream = agent.client.events(() => undefined, controller.signal);
    await new Promise((r) => setTimeout(r, 700));
    expect((await agent.client.health()).eventClients).toBe(1);
    controller.abort();
    await stream;
    expect(await agent.exitedAfter()).toBeGreaterThanOrEqual(700);
  });

  it('stops on POST /v1/shutdown and on its abort signal', async () => {
    const first = await start({ idleSeconds: 60 });
    await first.client.shutdown();
    expect(await first.exit).toBe('shutdown');
    const controller = new AbortController();
    const second = await start({ idleSeconds: 60, signal: controller.signal });
    controller.abort();
    expect(await second.exit).toBe('aborted');
    expect(second.sessions.closed).toBe(true);
  });

  it('refuses to start while another agent answers on the socket', async () => {
    const first = await start({ idleSeconds: 60 });
    const sessions = new FakeSessionService();
    await expect(
      runAgent({
        createSessions: () => sessions,
        createTemplates: () => fakeTemplates,
        config: emptyConfig(),
        env,
        homedir: dir,
        handleSignals: false,
      }),
    ).rejects.toThrow(ConflictError);
    // The loser closed what it had opened; the first agent is untouched.
    expect(sessions.closed).toBe(true);
    expect((await first.client.health()).pid).toBe(process.pid);
    await first.client.shutdown();
    await first.exit;
  });

  it('never writes prompt answers or tokens to its log', async () => {
    const agent = await start({ idleSeconds: 60 });
    agent.sessions.put(
      fakeRecord('s000000000001', {
        state: 'ready',
        connection: { kind: 'jupyter', endpoints: [{ name: 'jupyter', host: 'n1', port: 1 }] },
      }),
    );
    const { token } = await agent.client.access('s000000000001', { endpoint: 'jupyter' });
    expect(token).toBe('token-of-s000000000001');
    await agent.client.shutdown();
    await agent.exit;
    const log = await readFile(logFile, 'utf8');
    expect(log).toContain('POST /v1/sessions/s000000000001/access 200');
    expect(log).not.toContain('token-of');
    expect(log).not.toContain('endpoint=');
  });
});
