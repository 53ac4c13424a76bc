/**
 * `hpc-jupyter run --cluster C [--nodes N] [--minutes M] -- COMMAND...`: runs a command as a batch
 * job, shows its state while it waits and runs, then prints its output and exits with its result.
 * The command reaches the job script quoted for the shell, never spliced; Ctrl-C cancels the job.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { quoteShellCommand } from '../transport/shell-quote.js';
import { ensureWorkdir } from '../clusters/workdir.js';
import { isFinal, type JobStatus, type ResourceRequest } from '../schedulers/types.js';
import { AbortedError } from '../errors.js';
import type { ClusterCliContext } from './context.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { describeJob, formatElapsed } from './format.js';

export interface RunOptions {
  readonly cluster: string;
  readonly command: readonly string[];
  readonly nodes?: number;
  readonly minutes?: number;
  readonly partition?: string;
  readonly account?: string;
  readonly qos?: string;
  readonly json: boolean;
}

const POLL_MS = 1000;

export async function runCommand(ctx: ClusterCliContext, options: RunOptions): Promise<ExitCode> {
  const { config, transport, scheduler } = ctx.clusters.get(options.cluster);
  const workdir = await ensureWorkdir(config, transport, ctx.signal);
  const runs = posix.join(workdir, 'runs');
  await transport.mkdir(runs, { mode: 0o700, signal: ctx.signal });
  const name = `hpcj-run-${randomBytes(4).toString('hex')}`;
  const output = posix.join(runs, `${name}.log`);
  const partition = options.partition ?? config.defaults?.partition;
  const account = options.account ?? config.defaults?.account;
  const qos = options.qos ?? config.defaults?.qos;
  const resources: ResourceRequest = {
    name,
    workdir: runs,
    output,
    nodes: options.nodes ?? 1,
    walltimeMinutes: options.minutes ?? 10,
    ...(partition === undefined ? {} : { partition }),
    ...(account === undefined ? {} : { account }),
    ...(qos === undefined ? {} : { qos }),
  };
  const script = `#!/bin/bash\n${quoteShellCommand(options.command)}\n`;
  const jobId = await scheduler.submit({ script, resources }, { signal: ctx.signal });
  const started = Date.now();
  ctx.err.write(`Submitted job ${jobId} on ${config.name}.\n`);

  let last = '';
  let status: JobStatus | undefined;
  try {
    for (;;) {
      status = (await scheduler.status([jobId], { signal: ctx.signal })).get(jobId);
      const line = status === undefined ? 'unknown' : describeJob(status);
      if (line !== last && !options.json) {
        ctx.err.write(`[${formatElapsed(Date.now() - started)}] job ${jobId}: ${line}\n`);
        last = line;
      }
      if (status !== undefined && isFinal(status.state)) break;
      await sleep(POLL_MS, ctx.signal);
    }
  } catch (error) {
    if (error instanceof AbortedError) {
      ctx.err.write(`Interrupted: cancelling job ${jobId}.\n`);
      await scheduler.cancel([jobId]);
      return EXIT.interrupted;
    }
    throw error;
  }

  const text = await transport
    .readFile(output, { signal: ctx.signal })
    .then((b) => b.toString('utf8'))
    .catch(() => '');
  if (options.json) {
    ctx.out.write(
      `${JSON.stringify({ jobId, cluster: config.name, status, output: text }, null, 2)}\n`,
    );
  } else {
    ctx.out.write(text);
  }
  return status.state === 'completed' ? EXIT.ok : EXIT.jobFailed;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new AbortedError());
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
