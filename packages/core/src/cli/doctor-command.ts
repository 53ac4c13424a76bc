/**
 * `hpc-jupyter doctor [--cluster C]`: checks, in the order a user would fix them, everything a
 * session needs (config, SSH and host key, scheduler commands, the work directory, Python with
 * jupyter-server and ipykernel) and says what to do about each failure.
 */
import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import type { ClusterConfig } from '../config/types.js';
import { HpcError } from '../errors.js';
import { checkWorkdir, octal, UnsafeWorkdirError } from '../clusters/workdir.js';
import type { ClusterCliContext } from './context.js';
import { EXIT, type ExitCode } from './exit-codes.js';

interface Check {
  readonly ok: boolean;
  readonly what: string;
  readonly detail?: string;
}

const SCHEDULER_COMMANDS: Readonly<Record<string, readonly string[]>> = {
  slurm: ['sbatch', 'squeue', 'scancel', 'sinfo', 'sacct'],
  local: [],
  pbs: ['qsub', 'qstat', 'qdel'],
  lsf: ['bsub', 'bjobs', 'bkill'],
  htcondor: ['condor_submit', 'condor_q', 'condor_rm'],
};

export async function doctorCommand(ctx: ClusterCliContext, only?: string): Promise<ExitCode> {
  let failed = 0;
  const report = (check: Check): void => {
    if (!check.ok) failed++;
    ctx.out.write(
      `${check.ok ? 'ok  ' : 'FAIL'}  ${check.what}${check.detail === undefined ? '' : `\n      ${check.detail.replaceAll('\n', '\n      ')}`}\n`,
    );
  };
  report({
    ok: ctx.config.problems.length === 0,
    what: `configuration (${ctx.config.sources.length > 0 ? ctx.config.sources.join(', ') : 'built-in only'})`,
    ...(ctx.config.problems.length > 0
      ? { detail: ctx.config.problems.map((p) => p.message).join('\n') }
      : {}),
  });
  const clusters =
    only === undefined ? [...ctx.config.clusters.values()] : [ctx.clusters.clusterConfig(only)];
  for (const cluster of clusters) {
    ctx.out.write(
      `\n${cluster.name} (${cluster.scheduler}${cluster.ssh === undefined ? ', this machine' : `, ssh ${cluster.ssh.host}`})\n`,
    );
    for await (const check of checkCluster(ctx, cluster)) report(check);
  }
  ctx.out.write(
    failed === 0
      ? '\nEverything checked is fine.\n'
      : `\n${failed} check(s) failed; each says what to do.\n`,
  );
  return failed === 0 ? EXIT.ok : EXIT.error;
}

async function* checkCluster(
  ctx: ClusterCliContext,
  cluster: ClusterConfig,
): AsyncGenerator<Check> {
  const { transport } = ctx.clusters.get(cluster.name);
  const signal = ctx.signal;
  try {
    const whoami = await transport.run(['id', '-un'], { signal, timeout: 30_000 });
    yield {
      ok: whoami.code === 0,
      what: `reach ${transport.label} (host key verified, logged in as ${whoami.stdout.trim()})`,
    };
  } catch (error) {
    yield { ok: false, what: `reach ${transport.label}`, detail: explain(error) };
    return;
  }
  const commands = SCHEDULER_COMMANDS[cluster.scheduler] ?? [];
  if (commands.length > 0) {
    const found = await transport.run(
      [
        'sh',
        '-c',
        'for c in "$@"; do command -v "$c" >/dev/null || echo "$c"; done',
        'sh',
        ...commands,
      ],
      { signal, timeout: 30_000 },
    );
    const missing = found.stdout.split('\n').filter((l) => l !== '');
    yield {
      ok: found.code === 0 && missing.length === 0,
      what: `${cluster.scheduler} commands (${commands.join(', ')})`,
      ...(missing.length > 0
        ? {
            detail: `not found on the PATH: ${missing.join(', ')}. Add the module or PATH to this cluster's prologue, or ask your centre.`,
          }
        : {}),
    };
  }
  try {
    // The real owner and mode, as every session checks them: not the mode we would have made.
    const notes: string[] = [];
    const report = await checkWorkdir(cluster, transport, {
      signal,
      notice: (message) => notes.push(message),
    });
    const probe = posix.join(report.path, `.doctor-${randomBytes(4).toString('hex')}`);
    await transport.writeFileAtomic(probe, 'ok', { mode: 0o600, signal });
    await transport.remove(probe, { signal });
    yield {
      ok: true,
      what: `work directory ${report.path} is writable (owner ${report.owner}, mode ${octal(report.mode)})`,
      ...(notes.length > 0 ? { detail: notes.join('\n') } : {}),
    };
  } catch (error) {
    yield {
      ok: false,
      what: 'work directory',
      detail:
        error instanceof UnsafeWorkdirError
          ? explain(error)
          : `${explain(error)}\nSet \`workdir\` for this cluster to a directory on its shared filesystem.`,
    };
  }
  const python = cluster.python ?? 'python3';
  const code =
    'import sys, jupyter_server, ipykernel, hpc_jupyter; print(sys.version.split()[0], jupyter_server.__version__, ipykernel.__version__)';
  const result = await transport
    .run([python, '-c', code], { signal, timeout: 60_000 })
    .catch((error: unknown) => ({
      code: -1,
      stdout: '',
      stderr: explain(error),
    }));
  const [py, server, kernel] = result.stdout.trim().split(' ');
  yield result.code === 0
    ? {
        ok: true,
        what: `Python ${py ?? '?'} with jupyter-server ${server ?? '?'} and ipykernel ${kernel ?? '?'} (${python})`,
      }
    : {
        ok: false,
        what: `Python with hpc-jupyter's job package, jupyter-server and ipykernel (${python})`,
        detail: `${result.stderr.trim().split('\n').slice(-2).join('\n')}\n\`hpc-jupyter setup --cluster ${cluster.name}\` shows what each template needs; with --create-venv it makes an environment on the cluster with all of it and sets \`python\` for this cluster.`,
      };
}

function explain(error: unknown): string {
  if (error instanceof HpcError) return error.describe();
  return error instanceof Error ? error.message : String(error);
}
