/**
 * The baseline of the start-to-ready benchmark: what a careful user does by hand to get the same
 * Jupyter server on a compute node without hpc-jupyter. A minimal sbatch script (no runtime, no
 * login shell, no connection file: it writes `host:port` and execs Jupyter), a 0600 token file
 * read through JUPYTER_TOKEN_FILE, `sbatch` over an SSH connection that is already open, then
 * polling for the `host:port` file, a port forward, and polling `/api/status` until it answers.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Transport } from '../../packages/core/src/transport/types.js';
import { waitForStatus200 } from './http-probe.js';

export const BASELINE_JOB_NAME = 'bench-baseline-jupyter';

/** Characters we allow in paths pasted into the script (our own paths, but checked anyway). */
const SAFE_PATH = /^\/[A-Za-z0-9._/-]+$/;

/**
 * The hand-written job: the same resources as hpc-jupyter's jupyter template asks for (1 node,
 * 1 task, 2 CPUs, 1 h) and the same server command line, minus what only the proxy needs.
 */
export function baselineScript(dir: string, python: string): string {
  for (const p of [dir, python]) {
    if (!SAFE_PATH.test(p)) throw new Error(`unsafe path for the baseline script: ${p}`);
  }
  return `#!/bin/bash
#SBATCH --job-name=${BASELINE_JOB_NAME}
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=1
#SBATCH --cpus-per-task=2
#SBATCH --time=0-01:00:00
#SBATCH --chdir=${dir}
#SBATCH --output=${dir}/job.log
umask 077
read -r addr _ < <(hostname -I)
port=$(${python} -c 'import socket; s = socket.socket(); s.bind(("", 0)); print(s.getsockname()[1])')
echo "$addr:$port" >hostport.tmp && mv hostport.tmp hostport
export JUPYTER_TOKEN_FILE=$PWD/token
exec ${python} -m jupyterlab --no-browser --ServerApp.ip="$addr" --ServerApp.port="$port" \\
  --ServerApp.port_retries=0 --ServerApp.root_dir="$HOME" --ServerApp.allow_remote_access=True
`;
}

export interface BaselineRun {
  readonly jobId: string;
  readonly dir: string;
  /** Epoch ms: sbatch started, sbatch returned, host:port read, forward open, first 200. */
  readonly t0: number;
  readonly submitted: number;
  readonly found: number;
  readonly forwarded: number;
  readonly ready: number;
}

export interface BaselineOptions {
  readonly transport: Transport;
  readonly python: string;
  /** A fresh directory for this run, created here. */
  readonly dir: string;
  /** How often the host:port file is looked for. */
  readonly filePollMs: number;
  /** How often /api/status is tried once the forward is open. */
  readonly httpPollMs: number;
  readonly timeoutMs: number;
  /** Called with the job id as soon as sbatch returns, so a failed run can still cancel it. */
  readonly onSubmitted?: (jobId: string) => void;
}

/** Prepares (untimed), submits and waits until the server answers; leaves the job running. */
export async function runBaseline(options: BaselineOptions): Promise<BaselineRun> {
  const { transport, dir } = options;
  await transport.mkdir(dir, { mode: 0o700 });
  // No trailing newline: Jupyter reads the whole file as the token.
  const token = randomBytes(24).toString('hex');
  await transport.writeFileAtomic(posix.join(dir, 'token'), token, { mode: 0o600 });
  const script = baselineScript(dir, options.python);

  const t0 = Date.now();
  const result = await transport.run(['sbatch', '--parsable'], { stdin: script, timeout: 30_000 });
  const jobId = /^(\d+)/.exec(result.stdout.trim())?.[1];
  if (result.code !== 0 || jobId === undefined) {
    throw new Error(`sbatch failed (${result.code}): ${result.stderr.trim()}`);
  }
  const submitted = Date.now();
  options.onSubmitted?.(jobId);
  const deadline = t0 + options.timeoutMs;

  const { host, port } = await pollHostPort(transport, dir, options.filePollMs, deadline);
  const found = Date.now();
  const forward = await transport.forward(host, port);
  const forwarded = Date.now();
  try {
    const ready = await waitForStatus200(
      `http://${forward.localHost}:${forward.localPort}/api/status`,
      { token, intervalMs: options.httpPollMs, timeoutMs: Math.max(1, deadline - Date.now()) },
    );
    return { jobId, dir, t0, submitted, found, forwarded, ready };
  } finally {
    await forward.close();
  }
}

async function pollHostPort(
  transport: Transport,
  dir: string,
  intervalMs: number,
  deadline: number,
): Promise<{ host: string; port: number }> {
  const file = posix.join(dir, 'hostport');
  for (;;) {
    try {
      const m = /^([\d.]+):(\d+)\s*$/.exec((await transport.readFile(file)).toString('utf8'));
      if (m !== null) return { host: m[1] as string, port: Number(m[2]) };
    } catch {
      // Not written yet: the job is queued or still starting.
    }
    if (Date.now() >= deadline) throw new Error(`${file} did not appear in time`);
    await sleep(intervalMs);
  }
}
