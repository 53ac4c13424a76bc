/**
 * Finds the running agent, or starts one: clients call `connectAgent({ start: true })` and get an
 * AgentClient that answers. Starting is guarded by an O_EXCL lock file beside the socket, so two
 * clients starting at once make one agent, and bounded in time, so a broken install fails with a
 * pointer to the log instead of hanging.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Environment } from '../config/paths.js';
import { AgentError, throwIfAborted, TimeoutError } from '../errors.js';
import { AgentClient } from './agent-client.js';
import { agentLogPath, agentSocketPath, ensurePrivateDir, LOCK_NAME } from './socket-path.js';

export interface ConnectAgentOptions {
  /** Start the agent if nothing answers. Default false: fail with AgentError. */
  readonly start?: boolean;
  readonly env?: Environment;
  readonly homedir?: string;
  /** Default: agentSocketPath(env). */
  readonly socketPath?: string;
  /** The agent's argv. Default: this Node running `dist/cli/main.js agent`. */
  readonly command?: readonly string[];
  /** Where the started agent's stdout and stderr go. Default: agentLogPath(env, homedir). */
  readonly logFile?: string;
  /** How long to wait for a started agent to answer. Default 10 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** A lock older than this was left by a client that died while starting the agent. */
const STALE_LOCK_MS = 30_000;
const PROBE_MS = 2_000;

export function defaultAgentCommand(): string[] {
  return [process.execPath, fileURLToPath(new URL('../cli/main.js', import.meta.url)), 'agent'];
}

/** True when the agent at the client's socket answers its health check. */
export async function agentAnswers(client: AgentClient, signal?: AbortSignal): Promise<boolean> {
  const probe = AbortSignal.timeout(PROBE_MS);
  try {
    await client.health({
      signal: signal === undefined ? probe : AbortSignal.any([probe, signal]),
    });
    return true;
  } catch {
    return false;
  }
}

export async function connectAgent(options: ConnectAgentOptions = {}): Promise<AgentClient> {
  const env = options.env ?? process.env;
  const { signal } = options;
  const socketPath = options.socketPath ?? agentSocketPath(env);
  const client = new AgentClient(socketPath);
  if (await agentAnswers(client, signal)) return client;
  throwIfAborted(signal);
  if (options.start !== true) {
    throw new AgentError(
      `The hpc-jupyter agent is not running (nothing answers on ${socketPath}).`,
      undefined,
      'AgentUnreachable',
      { hint: 'Start it with `hpc-jupyter agent`.' },
    );
  }
  const dir = path.dirname(socketPath);
  await ensurePrivateDir(dir);
  const logFile = options.logFile ?? agentLogPath(env, options.homedir ?? os.homedir());
  const timeoutMs = options.timeoutMs ?? 10_000;
  const release = await tryLock(path.join(dir, LOCK_NAME));
  try {
    // Without the lock another client is starting it: just wait for it to answer.
    let exit: Promise<string> | undefined;
    let logOffset = 0;
    if (release !== undefined && !(await agentAnswers(client, signal))) {
      logOffset = await stat(logFile).then(
        (s) => s.size,
        () => 0,
      );
      ({ exit } = await spawnAgent(options.command ?? defaultAgentCommand(), env, logFile));
    }
    let exited: string | undefined;
    void exit?.then((why) => (exited = why));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      throwIfAborted(signal);
      if (await agentAnswers(client, signal)) return client;
      if (exited !== undefined) {
        const why = await reasonInLog(logFile, logOffset);
        throw new AgentError(
          `The hpc-jupyter agent ${exited} before answering${why === undefined ? '.' : `: ${why.message}`}`,
          undefined,
          'AgentStartFailed',
          { hint: why?.hint ?? `See ${logFile} for why.` },
        );
      }
      await sleep(100, undefined, signal === undefined ? {} : { signal }).catch(() => undefined);
    }
    throw new TimeoutError(`The hpc-jupyter agent did not answer within ${timeoutMs / 1000} s.`, {
      hint: `See ${logFile} for why.`,
    });
  } finally {
    await release?.();
  }
}

/**
 * What the agent said as it failed to start: the `hpc-jupyter: MESSAGE` it writes to its log
 * (stderr) last, with the hint on the lines after it, from what it wrote since `offset`.
 */
async function reasonInLog(
  logFile: string,
  offset: number,
): Promise<{ readonly message: string; readonly hint: string | undefined } | undefined> {
  let text: string;
  try {
    text = (await readFile(logFile)).subarray(offset).toString('utf8');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const at = lines.findLastIndex((line) => line.startsWith('hpc-jupyter: '));
  const message = lines[at]?.slice('hpc-jupyter: '.length);
  if (message === undefined) return undefined;
  const hint = lines
    .slice(at + 1)
    .filter((line) => line.trim() !== '' && !/^\d{4}-\d\d-\d\dT/.test(line))
    .join(' ');
  return { message, hint: hint === '' ? undefined : hint };
}

/** Takes the start-up lock, or returns undefined when another client holds it. */
async function tryLock(lockPath: string): Promise<(() => Promise<void>) | undefined> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      return () => unlink(lockPath).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const info = await stat(lockPath).catch(() => undefined);
      if (info !== undefined && Date.now() - info.mtimeMs < STALE_LOCK_MS) return undefined;
      await unlink(lockPath).catch(() => undefined);
    }
  }
  return undefined;
}

/** Starts the agent detached, output to the log; `exit` settles with how it exited. */
async function spawnAgent(
  command: readonly string[],
  env: Environment,
  logFile: string,
): Promise<{ readonly exit: Promise<string> }> {
  const [file, ...args] = command;
  if (file === undefined)
    throw new AgentError('No command to start the agent with.', undefined, undefined);
  await mkdir(path.dirname(logFile), { recursive: true, mode: 0o700 });
  const fd = openSync(logFile, 'a', 0o600);
  try {
    const child = spawn(file, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...env },
      // Not the caller's directory: a long-lived process must not pin it (or its mount).
      cwd: os.homedir(),
    });
    const exit = new Promise<string>((resolve) => {
      child.once('error', (err) => {
        resolve(`could not be started (${err.message})`);
      });
      child.once('exit', (code, sig) => {
        resolve(sig === null ? `exited with code ${code ?? '?'}` : `was killed by ${sig}`);
      });
    });
    child.unref();
    return { exit };
  } finally {
    closeSync(fd);
  }
}
