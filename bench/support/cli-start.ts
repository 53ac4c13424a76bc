/**
 * `hpc-jupyter start ... --json` as a user runs it, timed from the moment the command is started
 * until it prints (the URL, or the ready session of an engine): the built CLI in its own Node
 * process, talking to a private agent. Also notes when the command said which session it made
 * (its submit is done by then).
 */
import { spawn } from 'node:child_process';
import { CLI } from '../../test/e2e/support.js';

export interface CliStart {
  /** Epoch ms: command started, "Session s...:" on stderr (job submitted), URL on stdout. */
  readonly t0: number;
  readonly submitted?: number;
  readonly printed: number;
  readonly sessionId: string;
  readonly jobId: string;
  readonly sessionDir: string;
  readonly url: string;
  readonly token: string;
}

interface StartJson {
  readonly session?: { id?: string; jobId?: string; sessionDir?: string };
  readonly url?: string;
  readonly token?: string;
}

export interface TimedCommand {
  /** Epoch ms: command started, "Session s...:" on stderr (job submitted), first stdout. */
  readonly t0: number;
  readonly submitted?: number;
  readonly printed?: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs the built CLI with `args`, noting when it named its session (its submit is done by then)
 * and when it first printed to stdout. `onSession` gets the session id as soon as the command
 * names it, so a failed run can still be stopped.
 */
export function timedCli(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs: number,
  onSession: (id: string) => void = () => undefined,
): Promise<TimedCommand> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    let submitted: number | undefined;
    let printed: number | undefined;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      printed ??= Date.now();
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      const named = /^Session (s[0-9a-f]+):/m.exec(stderr);
      if (submitted === undefined && named !== null) {
        submitted = Date.now();
        onSession(named[1] as string);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      resolve({
        t0,
        ...(submitted === undefined ? {} : { submitted }),
        ...(printed === undefined ? {} : { printed }),
        code,
        stdout,
        stderr,
      });
    });
  });
}

/** Runs the start command; rejects with its stderr when it fails or prints no URL. */
export async function timedCliStart(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  timeoutMs: number,
  onSession: (id: string) => void = () => undefined,
): Promise<CliStart> {
  const run = await timedCli(args, env, timeoutMs, onSession);
  let out: StartJson = {};
  try {
    out = JSON.parse(run.stdout) as StartJson;
  } catch {
    // Reported below with the command's own messages.
  }
  const { id, jobId, sessionDir } = out.session ?? {};
  if (
    run.code !== 0 ||
    run.printed === undefined ||
    out.url === undefined ||
    out.token === undefined ||
    id === undefined ||
    jobId === undefined ||
    sessionDir === undefined
  ) {
    throw new Error(`hpc-jupyter ${args.join(' ')} exited ${run.code}: ${run.stderr.trim()}`);
  }
  return {
    t0: run.t0,
    ...(run.submitted === undefined ? {} : { submitted: run.submitted }),
    printed: run.printed,
    sessionId: id,
    jobId,
    sessionDir,
    url: out.url,
    token: out.token,
  };
}
