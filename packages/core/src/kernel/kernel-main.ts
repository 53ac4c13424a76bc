#!/usr/bin/env node
/**
 * The entry point of the remote-kernel launcher, what a kernelspec's argv runs:
 * `kernel --profile NAME -f CONNECTION_FILE` (also reachable as `hpc-jupyter kernel ...`). Kept
 * small on purpose: it reads the connection file and binds the five ports before anything heavy
 * is loaded (the config loader, the agent client and its SSH dependencies come later, lazily),
 * so the kernel answers within a fraction of a second of being started.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { agentRuntimeDir } from '../agent/socket-path.js';
import type { Environment } from '../config/paths.js';
import { readConnectionInfo } from './connection-info.js';
import { KernelLauncher } from './launcher.js';

export const KERNEL_USAGE =
  'Usage: hpc-jupyter kernel --profile NAME -f CONNECTION_FILE\n' +
  'Runs a kernel for Jupyter whose code runs in a batch job made from the profile NAME.\n';

export class KernelUsageError extends Error {
  override readonly name = 'KernelUsageError';
}

export interface KernelArgs {
  readonly profile: string;
  readonly connectionFile: string;
}

/** Parses the arguments after `kernel` (a leading `kernel` is skipped). */
export function parseKernelArgs(argv: readonly string[]): KernelArgs {
  const args = argv[0] === 'kernel' ? argv.slice(1) : argv;
  const { values, positionals } = parseArgs({
    args: [...args],
    strict: true,
    allowPositionals: true,
    options: {
      profile: { type: 'string', short: 'p' },
      'connection-file': { type: 'string', short: 'f' },
    },
  });
  if (positionals.length > 0) throw new KernelUsageError(`Unexpected: ${positionals.join(' ')}`);
  const profile = values.profile;
  const connectionFile = values['connection-file'];
  if (profile === undefined || profile === '') throw new KernelUsageError('--profile is missing.');
  if (connectionFile === undefined || connectionFile === '') {
    throw new KernelUsageError('-f CONNECTION_FILE is missing.');
  }
  return { profile, connectionFile };
}

function version(): string {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const v = (JSON.parse(text) as { version?: unknown }).version;
    return typeof v === 'string' ? v : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** Runs the launcher until it exits the process. */
export async function runKernel(
  argv: readonly string[],
  env: Environment = process.env,
): Promise<void> {
  const log = (line: string): void => {
    process.stderr.write(`[hpc-jupyter kernel] ${line}\n`);
  };
  const args = parseKernelArgs(argv);
  const info = readConnectionInfo(args.connectionFile);
  // Interrupts arrive as messages (interrupt_mode: message); a Ctrl-C meant for the Jupyter
  // server's terminal must not kill the kernel, as with ipykernel.
  process.on('SIGINT', () => undefined);
  const launcher = await KernelLauncher.start({
    profile: args.profile,
    connectionFile: args.connectionFile,
    info,
    env,
    version: version(),
    stateDir: `${agentRuntimeDir(env)}/kernels`,
    log,
    exit: (code) => process.exit(code),
    backend: async () => {
      const { agentBackend } = await import('./session-link.js');
      return agentBackend(args.profile, env, (message) => {
        log(message);
      });
    },
  });
  const stop = (): void => {
    void launcher.terminate();
  };
  process.once('SIGTERM', stop);
  process.once('SIGHUP', stop);
  watchParent(env, stop);
}

/** Jupyter names its own pid in JPY_PARENT_PID: when it is gone, so are we (as ipykernel does). */
function watchParent(env: Environment, onGone: () => void): void {
  const parent = Number(env['JPY_PARENT_PID']);
  if (!Number.isInteger(parent) || parent <= 1) return;
  const timer = setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EPERM') return;
      clearInterval(timer);
      onGone();
    }
  }, 2000);
  timer.unref();
}

function isMain(): boolean {
  const script = process.argv[1];
  return script !== undefined && fileURLToPath(import.meta.url) === script;
}

if (isMain()) {
  runKernel(process.argv.slice(2)).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`hpc-jupyter kernel: ${message}\n`);
    if (error instanceof KernelUsageError) process.stderr.write(KERNEL_USAGE);
    process.exit(error instanceof KernelUsageError ? 2 : 1);
  });
}
