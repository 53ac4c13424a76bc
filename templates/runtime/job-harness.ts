/**
 * Test support for running rendered job scripts for real, as the local scheduler would: a private
 * session directory, the env file, `bash job.sh` in its own process group, and the process
 * bookkeeping to prove a stopped job leaves nothing behind. Used by the templates' *.test.ts.
 */

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BUILTIN_TEMPLATES_DIR,
  loadTemplates,
  renderJob,
  validateParams,
} from '../../packages/core/src/templates/index.js';

/** The Python environment that jobs use (scripts/install creates it). */
export const VENV = process.env['HPC_JUPYTER_VENV'] ?? '/opt/hpc-jupyter/venv';
export const VENV_PYTHON = path.join(VENV, 'bin', 'python');

export function requireVenv(): void {
  if (!existsSync(VENV_PYTHON)) {
    throw new Error(`${VENV_PYTHON} is missing: run scripts/install to create the job venv`);
  }
}

export interface Session {
  readonly id: string;
  readonly dir: string;
}

/**
 * Renders `template` for the local scheduler into a fresh 0700 session directory; `at` names it
 * (and the session id after it), for sessions that find each other as siblings, as the agent's
 * session directories do.
 */
export async function prepareSession(
  template: string,
  values: Record<string, unknown> = {},
  at?: { readonly parent: string; readonly id: string },
): Promise<Session> {
  const templates = await loadTemplates(BUILTIN_TEMPLATES_DIR);
  const t = templates.get(template);
  if (t === undefined) throw new Error(`no template ${template}`);
  let dir: string;
  let id: string;
  if (at === undefined) {
    dir = mkdtempSync(path.join(os.tmpdir(), `hpcj-${template}-`));
    id = `t-${path
      .basename(dir)
      .slice(-6)
      .replace(/[^A-Za-z0-9]/g, 'x')}`;
  } else {
    dir = path.join(at.parent, at.id);
    mkdirSync(dir, { mode: 0o700 });
    id = at.id;
  }
  const job = renderJob(t, validateParams(t, values), {
    sessionId: id,
    sessionDir: dir,
    scheduler: 'local',
    python: VENV_PYTHON,
  });
  writeFileSync(path.join(dir, 'job.sh'), job.script);
  writeFileSync(path.join(dir, 'job.env'), job.envFile, { mode: 0o600 });
  return { id, dir };
}

export interface RunningJob {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `bash job.sh` in the session directory, in its own process group, logging to job.log. */
export function startJob(session: Session, env: Record<string, string> = {}): RunningJob {
  const log = openSync(path.join(session.dir, 'job.log'), 'a', 0o600);
  const child = spawn('bash', ['job.sh'], {
    cwd: session.dir,
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, HPC_JUPYTER_SCHEDULER: 'local', HPCJ_STOP_GRACE: '5', ...env },
  });
  closeSync(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve({ code, signal });
    });
  });
  if (child.pid === undefined) throw new Error('bash did not start');
  return { child, pid: child.pid, exited };
}

/** Waits for a file of the session to appear; fails early (with the log) if the job ends. */
export async function waitForFile(
  session: Session,
  job: RunningJob,
  name: string,
  timeoutMs = 20_000,
): Promise<string> {
  const file = path.join(session.dir, name);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(file)) return file;
    if (job.child.exitCode !== null || job.child.signalCode !== null) {
      throw new Error(`the job ended before ${name} appeared:\n${jobLog(session)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(`${name} did not appear within ${timeoutMs} ms:\n${jobLog(session)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function jobLog(session: Session): string {
  try {
    return readFileSync(path.join(session.dir, 'job.log'), 'utf8');
  } catch {
    return '(no job.log)';
  }
}

/** Every live descendant of `pid` (children, their children, ...), from `ps`. */
export function descendants(pid: number): number[] {
  const out = spawnSync('ps', ['-e', '-o', 'pid=,ppid='], { encoding: 'utf8' }).stdout;
  const parent = new Map<number, number>();
  for (const line of out.split('\n')) {
    const [p, pp] = line.trim().split(/\s+/).map(Number);
    if (p !== undefined && pp !== undefined && !Number.isNaN(p)) parent.set(p, pp);
  }
  const found: number[] = [];
  for (const p of parent.keys()) {
    let q: number | undefined = parent.get(p);
    for (let n = 0; q !== undefined && q > 1 && n < 1000; n++) {
      if (q === pid) {
        found.push(p);
        break;
      }
      q = parent.get(q);
    }
  }
  return found;
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0) until its parent reaps it.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) Z/.test(stat);
  } catch {
    return false;
  }
}

/** Sends SIGTERM to the job's shell only (what scancel and the local scheduler send first). */
export async function stopJob(
  job: RunningJob,
  timeoutMs = 20_000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  process.kill(job.pid, 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`the job did not stop within ${timeoutMs} ms of SIGTERM`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([job.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Test cleanup: kills what the test started (the job's group and recorded pids) and the dir. */
export function cleanup(
  session: Session | undefined,
  job: RunningJob | undefined,
  pids: number[] = [],
): void {
  if (job !== undefined) {
    try {
      process.kill(-job.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  if (session !== undefined) rmSync(session.dir, { recursive: true, force: true });
}

/** Waits until none of `pids` is alive, up to `timeoutMs`; returns those still alive. */
export async function waitGone(pids: readonly number[], timeoutMs = 5_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}
