import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, utimes, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentError, TimeoutError } from '../errors.js';
import { connectAgent } from './connect-agent.js';
import { agentRuntimeDir, agentSocketPath, LOCK_NAME } from './socket-path.js';

/**
 * Stands in for `hpc-jupyter agent`: records that it started, takes a moment (so concurrent
 * clients overlap), then answers health on the socket until asked to shut down.
 */
const SCRIPT = `
import http from 'node:http';
import fs from 'node:fs';
fs.appendFileSync(process.env.TEST_STARTS, process.pid + '\\n');
console.log('fake agent ' + process.pid + ' starting');
if (process.env.TEST_FAIL === '1') { console.error('boom'); process.exit(3); }
setTimeout(() => {
  const server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/v1/shutdown') {
      res.end('{"stopping":true}');
      server.close();
      return;
    }
    res.end(JSON.stringify({ version: 'script', pid: process.pid, uptimeSeconds: 0,
      sessions: 0, liveSessions: 0, eventClients: 0 }));
  });
  server.listen(process.env.TEST_SOCKET);
}, 300);
`;

let dir: string;
let env: Record<string, string>;
let script: string;
let starts: string;
let logFile: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'hpcj-connect-'));
  script = path.join(dir, 'fake-agent.mjs');
  starts = path.join(dir, 'starts');
  logFile = path.join(dir, 'state', 'agent.log');
  await writeFile(script, SCRIPT);
  env = {
    PATH: process.env['PATH'] ?? '',
    XDG_RUNTIME_DIR: dir,
    TEST_STARTS: starts,
    TEST_SOCKET: agentSocketPath({ XDG_RUNTIME_DIR: dir }),
  };
});

afterEach(async () => {
  // Stop the fake agents this test started, by their pids.
  const pids = existsSync(starts) ? (await readFile(starts, 'utf8')).split('\n') : [];
  for (const pid of pids.filter((p) => p !== '')) {
    try {
      process.kill(Number(pid));
    } catch {
      // Already gone.
    }
  }
  await rm(dir, { recursive: true, force: true });
});

async function startCount(): Promise<number> {
  if (!existsSync(starts)) return 0;
  return (await readFile(starts, 'utf8')).split('\n').filter((l) => l !== '').length;
}

function options(extra: Record<string, unknown> = {}): Parameters<typeof connectAgent>[0] {
  return {
    start: true,
    env,
    command: [process.execPath, script],
    logFile,
    timeoutMs: 5000,
    ...extra,
  };
}

describe('connectAgent', () => {
  it('fails with a hint when nothing answers and starting is not asked for', async () => {
    const err: unknown = await connectAgent({ env }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).kind).toBe('AgentUnreachable');
    expect(await startCount()).toBe(0);
  });

  it('starts the agent detached, logs its output, and returns a client that answers', async () => {
    const client = await connectAgent(options());
    expect((await client.health()).version).toBe('script');
    expect(await startCount()).toBe(1);
    expect(await readFile(logFile, 'utf8')).toMatch(/fake agent \d+ starting/);
    expect(existsSync(path.join(agentRuntimeDir(env), LOCK_NAME))).toBe(false);
    // A second client finds it running and starts nothing.
    await connectAgent(options());
    expect(await startCount()).toBe(1);
    await client.shutdown();
  });

  it('starts one agent when many clients connect at once', async () => {
    const clients = await Promise.all([1, 2, 3, 4].map(() => connectAgent(options())));
    expect(clients).toHaveLength(4);
    expect(await startCount()).toBe(1);
    await clients[0]?.shutdown();
  });

  it('reports an agent that exits before answering, with the log to read', async () => {
    env['TEST_FAIL'] = '1';
    const err: unknown = await connectAgent(options()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).message).toMatch(/exited with code 3/);
    expect((err as AgentError).hint).toContain(logFile);
    expect(await readFile(logFile, 'utf8')).toContain('boom');
  });

  it('takes over a lock left by a client that died, but waits for a live one', async () => {
    const runtime = agentRuntimeDir(env);
    await mkdir(runtime, { mode: 0o700 });
    const lock = path.join(runtime, LOCK_NAME);
    await writeFile(lock, '1\n');
    // A fresh lock: someone else is starting the agent, so this client only waits.
    const err: unknown = await connectAgent(options({ timeoutMs: 400 })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(await startCount()).toBe(0);
    // An old lock: its owner died; this client starts the agent.
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    const client = await connectAgent(options());
    expect(await startCount()).toBe(1);
    await client.shutdown();
  });
});
