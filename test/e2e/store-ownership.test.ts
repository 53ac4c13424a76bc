/**
 * Two agents on one session store (two login nodes sharing an NFS home): one owns it, the other
 * refuses to start and says who holds it, whether it runs on this host or, as `unshare --uts`
 * makes it look, on another one; once the owner is gone (stopped, or killed with -9 on this
 * host) the next agent takes the store over and follows the first one's running job.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentClient } from '../../packages/core/src/agent/agent-client.js';
import { agentSocketPath } from '../../packages/core/src/agent/socket-path.js';
import {
  CLI,
  cli,
  privateAgentEnv,
  stopPrivateAgent,
  testCluster,
  type CliResult,
} from './support.js';

let first: Record<string, string>;
let second: Record<string, string>;

/** Another agent's environment on the same store: its own runtime dir (socket), same state. */
function sameStore(env: Readonly<Record<string, string>>): Record<string, string> {
  const run = join(mkdtempSync(join(tmpdir(), 'hpcj-agent2-')), 'run');
  mkdirSync(run, { mode: 0o700 });
  return { ...env, XDG_RUNTIME_DIR: run };
}

/** The CLI as if on another login node: a UTS namespace whose hostname is `host`. */
function cliOnHost(host: string, args: readonly string[], env: Record<string, string>) {
  return new Promise<CliResult>((resolve) => {
    execFile(
      'unshare',
      ['--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', host, process.execPath, CLI, ...args],
      { env: { ...process.env, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : Number(error.code ?? -1), stdout, stderr });
      },
    );
  });
}

beforeAll(async () => {
  const cluster = await testCluster();
  first = privateAgentEnv(cluster.configFile);
  second = sameStore(first);
});

afterAll(async () => {
  await stopPrivateAgent(second);
  await stopPrivateAgent(first);
});

describe('one agent owns a session store', () => {
  let sessionId = '';

  it('refuses a second agent on this host, and one on another host, saying who holds it', async () => {
    const started = await cli(
      ['start', 'kernel', '--cluster', 'testlab', '--hours', '1', '--no-wait', '--json'],
      first,
    );
    expect(started.code, started.stderr).toBe(0);
    sessionId = (JSON.parse(started.stdout) as { id: string }).id;
    const { pid } = await new AgentClient(agentSocketPath(first)).health();

    const here = await cli(['list'], second);
    expect(here.code).not.toBe(0);
    expect(here.stderr).toMatch(new RegExp(`in use by the hpc-jupyter agent on .* \\(pid ${pid},`));
    expect(here.stderr).toMatch(/hpc-jupyter agent stop/);

    const elsewhere = await cliOnHost('login2', ['list'], second);
    expect(elsewhere.code).not.toBe(0);
    expect(elsewhere.stderr).toMatch(/in use by the hpc-jupyter agent on/);
    expect(elsewhere.stderr).toMatch(/Stop the agent on .* first/);

    // The owner did not notice: it still lists its session.
    const listed = await cli(['list', '--json'], first);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(sessionId);
  }, 120_000);

  it('is taken over once its owner was killed with -9, with the running job', async () => {
    const { pid } = await new AgentClient(agentSocketPath(first)).health();
    process.kill(pid, 'SIGKILL');
    const listed = await cli(['list', '--json'], second);
    expect(listed.code, listed.stderr).toBe(0);
    const sessions = JSON.parse(listed.stdout) as { id: string; state: string }[];
    const mine = sessions.find((s) => s.id === sessionId);
    expect(mine?.state).toMatch(/submitting|queued|starting|ready/);
    const stopped = await cli(['stop', sessionId], second);
    expect(stopped.code, stopped.stderr).toBe(0);
  }, 120_000);
});
