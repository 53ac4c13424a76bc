#!/usr/bin/env node
/**
 * The `hpc-jupyter` command: parses the command line, runs one command, and turns errors into a
 * clear message and a documented exit code.
 */
import { parseArgs } from 'node:util';
import { ConfigError, HpcError, InvalidInputError, SshError } from '../errors.js';
import { EXIT, EXIT_CODES_HELP, type ExitCode } from './exit-codes.js';

// Each command's module is loaded when that command runs: a start-up that parses every command's
// dependencies (ssh2, zeromq, the agent's server) costs a quarter of a second on every call.
function help(kernelspecHelp: string, jupyterlabHelp: string): string {
  return `hpc-jupyter: Jupyter on HPC clusters.

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
  hpc-jupyter templates [--json]
      The kinds of job you can start (jupyter, kernel, ...).
  hpc-jupyter start TEMPLATE --cluster CLUSTER [--nodes N] [--hours H]
                    [--param NAME=VALUE]... [--no-wait] [--json]
      Start a session: submit the job, show its place in the queue, and print the
      URL (with its token) once the service in the job answers. Ctrl-C while it
      waits asks whether to cancel.
  hpc-jupyter list [--cluster CLUSTER] [--json]
      Sessions the agent knows; with --cluster, also looks there for jobs of ours
      it does not know yet (listed as discovered).
  hpc-jupyter status ID [--json]     Everything about one session.
  hpc-jupyter logs ID [-f] [--lines N]
                                     The job's output; -f follows it.
  hpc-jupyter open ID                The session's URL with its token, through a tunnel;
                                     opens a browser where there is a display.
  hpc-jupyter stop ID                Cancel the session's job.
  hpc-jupyter adopt ID               Take a discovered job in as a session.
  hpc-jupyter doctor [--cluster CLUSTER]
                                     Check config, SSH, host key, scheduler commands, and the
                                     Python and Jupyter on the cluster; say what to fix.
  hpc-jupyter agent                  Run the per-user agent in the foreground (clients
                                     start it on demand; it stops when idle).
  hpc-jupyter agent stop             Stop the agent; sessions keep running and are
                                     picked up again when it next starts.
${kernelspecHelp}${jupyterlabHelp}  hpc-jupyter --help | --version

Configuration: ~/.config/hpc-jupyter/clusters.yaml, /etc/hpc-jupyter/clusters.d/*.yaml,
or the file or directory named by HPC_JUPYTER_CONFIG.

${EXIT_CODES_HELP}
`;
}

class UsageError extends Error {}

const sessionCommands = () => import('./session-commands.js');

/** The version in packages/core/package.json, two directories above this file in dist/ and src/. */
async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^[1-9][0-9]*$/.test(value))
    throw new UsageError(`--${name} must be a positive whole number, got "${value}".`);
  return Number(value);
}

function sessionId(rest: readonly string[]): string {
  const id = rest[0];
  if (id === undefined)
    throw new UsageError('Which session? Give its id, as `hpc-jupyter list` shows it.');
  return id;
}

/** `--param NAME=VALUE` flags as strings; the template validates and converts them. */
function parseParams(flags: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw new UsageError(`--param wants NAME=VALUE, got "${flag}".`);
    params[flag.slice(0, eq)] = flag.slice(eq + 1);
  }
  return params;
}

async function main(argv: string[]): Promise<ExitCode> {
  // Their own options (`kernel -f FILE` is not `--follow`), and no cluster connections.
  if (argv[0] === 'kernel') {
    const { kernelCommand } = await import('./kernel-command.js');
    await kernelCommand(argv.slice(1));
    return EXIT.ok;
  }
  if (argv[0] === 'jupyterlab') {
    const { jupyterlabCommand } = await import('./jupyterlab-command.js');
    return jupyterlabCommand(argv.slice(1), { out: process.stdout, err: process.stderr });
  }
  if (argv[0] === 'kernelspec') {
    const { kernelspecCommand } = await import('./kernelspec-command.js');
    return kernelspecCommand(argv.slice(1), { out: process.stdout, err: process.stderr });
  }
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
      hours: { type: 'string', short: 'H' },
      param: { type: 'string', multiple: true, short: 'P' },
      'no-wait': { type: 'boolean' },
      follow: { type: 'boolean', short: 'f' },
      lines: { type: 'string', short: 'n' },
    },
  });
  if (values.version === true) {
    process.stdout.write(`hpc-jupyter ${await version()}\n`);
    return EXIT.ok;
  }
  if (values.help === true || positionals.length === 0) {
    const [{ KERNELSPEC_HELP }, { JUPYTERLAB_HELP }] = await Promise.all([
      import('./kernelspec-command.js'),
      import('./jupyterlab-command.js'),
    ]);
    process.stdout.write(help(KERNELSPEC_HELP, JUPYTERLAB_HELP));
    return positionals.length === 0 && values.help !== true ? EXIT.usage : EXIT.ok;
  }
  const [command, ...rest] = positionals;
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort(new Error('interrupted'));
  });
  const { createContext } = await import('./context.js');
  const ctx = await createContext(controller.signal);
  const json = values.json === true;
  try {
    switch (command) {
      case 'clusters':
        return (await import('./clusters-command.js')).clustersCommand(ctx, json);
      case 'site': {
        const cluster = rest[0] ?? values.cluster;
        if (cluster === undefined)
          throw new UsageError('Which cluster? Usage: hpc-jupyter site CLUSTER');
        return await (await import('./site-command.js')).siteCommand(ctx, cluster, json);
      }
      case 'run': {
        if (values.cluster === undefined) throw new UsageError('run needs --cluster CLUSTER.');
        if (rest.length === 0)
          throw new UsageError('run needs a command after --, e.g. -- hostname');
        const nodes = positiveInt('nodes', values.nodes);
        const minutes = positiveInt('minutes', values.minutes);
        return await (
          await import('./run-command.js')
        ).runCommand(ctx, {
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
      case 'templates':
        return await (await sessionCommands()).templatesCommand(ctx, json);
      case 'start': {
        const template = rest[0];
        if (template === undefined)
          throw new UsageError('Which template? e.g. hpc-jupyter start jupyter --cluster local');
        const cluster = values.cluster ?? 'local';
        const params = parseParams(values.param ?? []);
        if (values.nodes !== undefined) params.nodes = values.nodes;
        if (values.hours !== undefined) params.hours = values.hours;
        if (values.partition !== undefined) params.partition = values.partition;
        if (values.account !== undefined) params.account = values.account;
        if (values.qos !== undefined) params.qos = values.qos;
        return await (
          await import('./start-command.js')
        ).startCommand(ctx, {
          template,
          cluster,
          params,
          json,
          noWait: values['no-wait'] === true,
        });
      }
      case 'list':
        return await (await sessionCommands()).listCommand(ctx, json, values.cluster);
      case 'status':
        return await (await sessionCommands()).statusCommand(ctx, sessionId(rest), json);
      case 'logs':
        return await (
          await sessionCommands()
        ).logsCommand(
          ctx,
          sessionId(rest),
          values.follow === true,
          positiveInt('lines', values.lines) ?? 100,
        );
      case 'open':
        return await (await sessionCommands()).openCommand(ctx, sessionId(rest), json);
      case 'stop':
        return await (await sessionCommands()).stopCommand(ctx, sessionId(rest), json);
      case 'adopt':
        return await (await sessionCommands()).adoptCommand(ctx, sessionId(rest));
      case 'doctor':
        return await (await import('./doctor-command.js')).doctorCommand(ctx, values.cluster);
      case 'agent': {
        const agent = await import('./agent-command.js');
        if (rest[0] === 'stop') return await agent.agentStopCommand(ctx);
        return await agent.agentCommand(ctx.err);
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
    // The agent may leave sockets of ended connections behind; it has said goodbye, so leave.
    if (process.argv[2] === 'agent' && process.argv[3] === undefined) process.exit(code);
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
