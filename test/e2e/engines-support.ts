/**
 * Shared steps of the engine end-to-end suites: start an engine session with the CLI and a
 * private agent, run a Python client inside the job's allocation (a Slurm step on the first node,
 * started over SSH as the test user, script on stdin), and run Python as the second test user on
 * the login node to prove what a stranger cannot do.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT, cli, waitLeftSqueue } from './support.js';

export const JOB_PYTHON = '/opt/hpc-jupyter/venv/bin/python';
const SSH = join(REPO_ROOT, 'test', 'cluster', 'ssh');

export interface EngineSession {
  readonly id: string;
  readonly jobId: string;
  readonly sessionDir: string;
  readonly nodes: readonly string[];
  readonly connection: Record<string, unknown>;
  readonly endpoints: readonly { name: string; host: string; port: number }[];
  readonly readyMs: number;
}

interface StartOutput {
  session: {
    id: string;
    jobId: string;
    sessionDir: string;
    nodes?: string[];
    connection?: {
      raw?: Record<string, unknown>;
      endpoints?: { name: string; host: string; port: number }[];
    };
  };
}

/** `hpc-jupyter start TEMPLATE --cluster testlab ARGS... --json`, waited for until ready. */
export async function startEngine(
  env: Record<string, string>,
  template: string,
  args: readonly string[],
): Promise<EngineSession> {
  const t0 = Date.now();
  const started = await cli(
    ['start', template, '--cluster', 'testlab', '--hours', '1', ...args, '--json'],
    env,
    300_000,
  );
  expect(started.code, started.stderr + started.stdout).toBe(0);
  const out = JSON.parse(started.stdout) as StartOutput;
  return {
    id: out.session.id,
    jobId: out.session.jobId,
    sessionDir: out.session.sessionDir,
    nodes: out.session.nodes ?? [],
    connection: out.session.connection?.raw ?? {},
    endpoints: out.session.connection?.endpoints ?? [],
    readyMs: Date.now() - t0,
  };
}

/** Stops the session and waits until its job has left squeue. */
export async function stopEngine(env: Record<string, string>, s: EngineSession): Promise<void> {
  const stopped = await cli(['stop', s.id], env);
  expect(stopped.code, stopped.stderr).toBe(0);
  await waitLeftSqueue(s.jobId, 90_000, 'stop');
}

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs test/cluster/ssh USER ARGV... with `input` on stdin. */
export function sshAs(
  user: 'hpcjtest' | 'hpcjother',
  argv: readonly string[],
  input: string,
  timeoutMs = 170_000,
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(SSH, [user, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** Runs a Python script as the test user in a step of the session's job, on its first node. */
export function pythonInJob(s: EngineSession, script: string, args: readonly string[] = []) {
  const node = s.nodes[0] ?? 'node1';
  return sshAs(
    'hpcjtest',
    [
      'srun',
      `--jobid=${s.jobId}`,
      '--overlap',
      '--nodes=1',
      '--ntasks=1',
      `--nodelist=${node}`,
      `--chdir=${s.sessionDir}`,
      JOB_PYTHON,
      '-',
      ...args,
    ],
    script,
  );
}

/** The last line of a script's stdout, parsed as JSON. */
export function lastJson(ran: Ran): unknown {
  const lines = ran.stdout.trim().split('\n');
  const last = lines[lines.length - 1] ?? '';
  try {
    return JSON.parse(last);
  } catch {
    throw new Error(`no JSON on stdout (exit ${ran.code}):\n${ran.stdout}\n${ran.stderr}`);
  }
}

/** The seed's Fig. 10 sample count, reduced to fit this machine. */
export const NUM_SAMPLES = 20_000_000;
