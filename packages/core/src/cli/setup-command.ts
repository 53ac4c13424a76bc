/**
 * `hpc-jupyter setup --cluster C [--json] [--create-venv [PATH]] [--python PY] [--wheelhouse DIR]
 * [--index-url URL]`: what the cluster's job environment has of what each template needs, and,
 * with --create-venv, an environment on the cluster that has it all, which then becomes the
 * cluster's `python` in the user's config file. Says what it changed; a second run changes
 * nothing.
 */
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import { parseArgs } from 'node:util';
import { remoteHome, workdirPath } from '../clusters/workdir.js';
import { InvalidInputError } from '../errors.js';
import { configFileFor, setClusterPython, type PythonChange } from '../setup/config-python.js';
import { jobWheel } from '../setup/job-wheel.js';
import { probe } from '../setup/probe.js';
import { buildReport, formatReport, type SetupReport } from '../setup/report.js';
import { createVenv, type VenvResult } from '../setup/venv.js';
import type { Transport } from '../transport/types.js';
import { createContext, withClusters } from './context.js';
import { EXIT, type ExitCode } from './exit-codes.js';

interface SetupArgs {
  readonly cluster: string;
  readonly json: boolean;
  readonly createVenv: boolean;
  readonly path?: string;
  readonly python?: string;
  readonly wheelhouse?: string;
  readonly indexUrl?: string;
}

/** The version in packages/core/package.json: the job package must be the same. */
export async function clientVersion(): Promise<string> {
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

export function parseSetupArgs(argv: readonly string[]): SetupArgs {
  // `--create-venv=PATH` and `--create-venv PATH` both name the path.
  const args = argv.flatMap((a) =>
    a.startsWith('--create-venv=') ? ['--create-venv', a.slice('--create-venv='.length)] : [a],
  );
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: {
      cluster: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      'create-venv': { type: 'boolean' },
      python: { type: 'string' },
      wheelhouse: { type: 'string' },
      'index-url': { type: 'string' },
    },
  });
  if (values.cluster === undefined)
    throw new InvalidInputError('setup needs --cluster CLUSTER.', {
      hint: 'Usage: hpc-jupyter setup --cluster CLUSTER [--create-venv [PATH]]',
    });
  const createVenv = values['create-venv'] === true;
  if (positionals.length > (createVenv ? 1 : 0)) {
    throw new InvalidInputError(`Unexpected argument "${positionals.at(-1) ?? ''}".`, {
      hint: 'A path goes right after --create-venv.',
    });
  }
  for (const flag of ['python', 'wheelhouse', 'index-url'] as const) {
    if (values[flag] !== undefined && !createVenv)
      throw new InvalidInputError(`--${flag} goes with --create-venv.`);
  }
  const [path] = positionals;
  return {
    cluster: values.cluster,
    json: values.json === true,
    createVenv,
    ...(path === undefined ? {} : { path }),
    ...(values.python === undefined ? {} : { python: values.python }),
    ...(values.wheelhouse === undefined ? {} : { wheelhouse: values.wheelhouse }),
    ...(values['index-url'] === undefined ? {} : { indexUrl: values['index-url'] }),
  };
}

/** PATH on the cluster: `~` is the home there; default WORKDIR/venv-VERSION. */
async function venvTarget(
  path: string | undefined,
  workdir: string,
  version: string,
  transport: Transport,
  signal: AbortSignal,
): Promise<string> {
  if (path === undefined) return posix.join(workdir, `venv-${version}`);
  if (path === '~' || path.startsWith('~/'))
    return posix.join(await remoteHome(transport, signal), path.slice(1));
  if (!path.startsWith('/'))
    throw new InvalidInputError(
      `--create-venv wants an absolute path on the cluster, got "${path}".`,
      {
        hint: 'Start it with / or ~/ (the home directory on the cluster).',
      },
    );
  return posix.normalize(path).replace(/\/+$/, '');
}

export async function setupCommand(argv: readonly string[]): Promise<ExitCode> {
  const args = parseSetupArgs(argv);
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort(new Error('interrupted'));
  });
  // A connection that ends without answering leaves nothing to wait for, and Node would exit 0
  // as if setup had finished: say it did not.
  const unfinished = (): void => {
    process.stderr.write(
      'hpc-jupyter: setup stopped before it finished (a connection to the cluster ended without an answer); nothing was changed in the config. Run it again.\n',
    );
    process.exitCode = EXIT.error;
  };
  process.once('beforeExit', unfinished);
  const ctx = await withClusters(createContext(controller.signal));
  try {
    const { signal } = ctx;
    const config = ctx.clusters.clusterConfig(args.cluster);
    const loaded = ctx.config.clusters.get(config.name);
    if (loaded === undefined) throw new InvalidInputError(`No cluster named "${args.cluster}".`);
    const { transport } = ctx.clusters.get(config.name);
    const version = await clientVersion();
    const workdir = await workdirPath(config, transport, signal);
    const prologue = config.prologue === undefined ? {} : { prologue: config.prologue };
    const say = (line: string): void => {
      (args.json ? ctx.err : ctx.out).write(`${line}\n`);
    };

    if (!args.createVenv) {
      const python = config.python ?? 'python3';
      const found = await probe(transport, python, {
        cluster: config.name,
        workdir,
        signal,
        ...prologue,
      });
      const report = buildReport(config.name, python, found, version);
      ctx.out.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
      return report.ok ? EXIT.ok : EXIT.error;
    }

    const target = await venvTarget(args.path, workdir, version, transport, signal);
    const wheel = await jobWheel(version, { signal });
    const venv: VenvResult = await createVenv({
      transport,
      cluster: config.name,
      target,
      basePython: args.python ?? config.python ?? 'python3',
      clientVersion: version,
      jobWheel: wheel,
      workdir,
      signal,
      log: say,
      ...prologue,
      ...(args.wheelhouse === undefined ? {} : { wheelhouse: args.wheelhouse }),
      ...(args.indexUrl === undefined ? {} : { indexUrl: args.indexUrl }),
    });
    const report = buildReport(config.name, venv.python, venv.probe, version);
    // The config changes only once the environment works (the report says hpc_jupyter is there).
    const jobOk = report.requirements.find((r) => r.id === 'hpc_jupyter')?.ok === true;
    if (!jobOk) {
      throw new InvalidInputError(
        `The new environment ${target} does not have hpc-jupyter's job package ${version}; the config was left as it was.`,
      );
    }
    const file = await configFileFor(loaded);
    const change: PythonChange = await setClusterPython(file, loaded, venv.python);
    if (args.json) {
      ctx.out.write(
        `${JSON.stringify({ changed: venv.built || change.changed, venv: { path: target, ...venv, probe: undefined }, config: change, report }, null, 2)}\n`,
      );
    } else {
      ctx.out.write(`\n${formatReport(report, true)}\n${describeChanges(target, venv, change)}\n`);
    }
    return EXIT.ok;
  } finally {
    process.off('beforeExit', unfinished);
    await ctx.clusters.close();
  }
}

export function describeChanges(target: string, venv: VenvResult, change: PythonChange): string {
  const lines: string[] = [];
  lines.push(
    venv.built
      ? `Built ${target} (the job wheel and ${String(venv.installed.length)} requirement(s)).`
      : `${target} already had everything: unchanged.`,
  );
  if (change.changed) {
    const from = change.before === undefined ? 'unset' : change.before;
    lines.push(
      change.copiedFrom === undefined
        ? `Set python in ${change.file}: ${from} -> ${change.after}.`
        : `Set python in ${change.file}: ${from} -> ${change.after} (the cluster's definition copied from ${change.copiedFrom}, which it now replaces).`,
    );
  } else {
    lines.push(`${change.file} already sets python to ${change.after}: unchanged.`);
  }
  if (!venv.built && !change.changed) lines.push('Nothing changed.');
  return lines.join('\n');
}

export type { SetupReport };
