/**
 * Running things as the test's two users on this machine, for the second-user tests of what a
 * user's machine and workdir hold: a command as `hpcjother` (or root) with input on stdin, a
 * long-running process as a user with secrets in its environment (never argv), and polling.
 * Like second-user.ts's asOther, but a child that exits before reading stdin is no uncaught EPIPE.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { OTHER_USER } from './second-user.js';

const execFileP = promisify(execFile);
export const OWNER = 'hpcjtest';

export interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs argv as `user` (runuser) or, without one, as root (this test's own user). */
export function runAs(
  user: string | undefined,
  argv: readonly string[],
  input = '',
  timeoutMs = 60_000,
): Promise<Ran> {
  const full = user === undefined ? argv : ['runuser', '-u', user, '--', ...argv];
  return new Promise((resolve, reject) => {
    const [program = '', ...args] = full;
    const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export const asOther = (argv: readonly string[], input = '', timeoutMs = 60_000): Promise<Ran> =>
  runAs(OTHER_USER, argv, input, timeoutMs);
export const asRoot = (argv: readonly string[]): Promise<Ran> => runAs(undefined, argv);

export async function uidOf(user: string): Promise<number> {
  const r = await asRoot(['id', '-u', user]);
  return Number(r.stdout.trim());
}

export interface UserProcess {
  readonly child: ChildProcess;
  output(): string;
  stop(): Promise<void>;
}

/** A long-running process as `user`; secrets go in `env` (never argv), which runuser keeps. */
export function spawnAs(
  user: string,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): UserProcess {
  const child = spawn('runuser', ['-u', user, '--', ...argv], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-40_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  return {
    child,
    output: () => log,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 30_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Runs argv as root and returns its stdout; fails loudly. */
export async function run(argv: readonly string[], timeoutMs = 240_000): Promise<string> {
  const [program = '', ...args] = argv;
  const { stdout } = await execFileP(program, args, { timeout: timeoutMs }).catch(
    (error: unknown) => {
      const e = error as { stderr?: string; message: string };
      throw new Error(`${argv.join(' ')} failed: ${e.message}\n${e.stderr ?? ''}`);
    },
  );
  return stdout;
}
