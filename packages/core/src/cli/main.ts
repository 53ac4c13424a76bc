#!/usr/bin/env node
/**
 * The `hpc-jupyter` command: parses the command line, runs one command, and turns errors into a
 * clear message and a documented exit code.
 */
import { parseArgs } from 'node:util';
import { ConfigError, HpcError, InvalidInputError, SshError } from '../errors.js';
import { createContext } from './context.js';
import { clustersCommand } from './clusters-command.js';
import { siteCommand } from './site-command.js';
import { runCommand } from './run-command.js';
import { EXIT, EXIT_CODES_HELP, type ExitCode } from './exit-codes.js';

const HELP = `hpc-jupyter: Jupyter on HPC clusters.

Usage:
  hpc-jupyter clusters [--json]
      List the configured clusters (the embedded \`local\` one included) and any
      configuration problems.
  hpc-jupyter site CLUSTER [--json]
      Partitions with their limits, and the accounts and QOS you may use on CLUSTER.
  hpc-jupyter run --cluster CLUSTER [--nodes N] [--minutes M] [--partition P]
                  [--account A] [--qos Q] [--json] -- COMMAND [ARG...]
      Run COMMAND as a batch job, show its state until it ends, print its output.
      Ctrl-C cancels the job.
  hpc-jupyter --help | --version

Configuration: ~/.config/hpc-jupyter/clusters.yaml, /etc/hpc-jupyter/clusters.d/*.yaml,
or the file or directory named by HPC_JUPYTER_CONFIG.

${EXIT_CODES_HELP}
`;

class UsageError extends Error {}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(value))
    throw new UsageError(`--${name} must be a positive whole number, got "${value}".`);
  return Number(value);
}

async function main(argv: string[]): Promise<ExitCode> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
      json: { type: 'boolean' },
      cluster: { type: 'string', short: 'c' },
      nodes: { type: 'string', short: 'N' },
      minutes: { type: 'string', short: 't' },
      partition: { type: 'string', short: 'p' },
      account: { type: 'string', short: 'A' },
      qos: { type: 'string', short: 'q' },
    },
  });
  if (values.help === true || positionals.length === 0) {
    process.stdout.write(HELP);
    return positionals.length === 0 && values.help !== true ? EXIT.usage : EXIT.ok;
  }
  if (values.version === true) {
    process.stdout.write('hpc-jupyter 0.1.0\n');
    return EXIT.ok;
  }
  const [command, ...rest] = positionals;
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort(new Error('interrupted'));
  });
  const ctx = await createContext(controller.signal);
  const json = values.json === true;
  try {
    switch (command) {
      case 'clusters':
        return clustersCommand(ctx, json);
      case 'site': {
        const cluster = rest[0] ?? values.cluster;
        if (cluster === undefined)
          throw new UsageError('Which cluster? Usage: hpc-jupyter site CLUSTER');
        return await siteCommand(ctx, cluster, json);
      }
      case 'run': {
        if (values.cluster === undefined) throw new UsageError('run needs --cluster CLUSTER.');
        if (rest.length === 0)
          throw new UsageError('run needs a command after --, e.g. -- hostname');
        const nodes = positiveInt('nodes', values.nodes);
        const minutes = positiveInt('minutes', values.minutes);
        return await runCommand(ctx, {
          cluster: values.cluster,
          command: rest,
          json,
          ...(nodes === undefined ? {} : { nodes }),
          ...(minutes === undefined ? {} : { minutes }),
          ...(values.partition === undefined ? {} : { partition: values.partition }),
          ...(values.account === undefined ? {} : { account: values.account }),
          ...(values.qos === undefined ? {} : { qos: values.qos }),
        });
      }
      default:
        throw new UsageError(`Unknown command "${command ?? ''}". Run hpc-jupyter --help.`);
    }
  } finally {
    await ctx.clusters.close();
  }
}

function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof UsageError || error instanceof InvalidInputError) return EXIT.usage;
  if (error instanceof ConfigError) return EXIT.config;
  if (error instanceof SshError) return EXIT.connection;
  if (
    error instanceof TypeError &&
    (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true
  ) {
    return EXIT.usage;
  }
  return EXIT.error;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const message =
      error instanceof HpcError
        ? error.describe()
        : error instanceof Error
          ? error.message
          : String(error);
    process.stderr.write(`hpc-jupyter: ${message}\n`);
    process.exitCode = exitCodeFor(error);
  },
);
