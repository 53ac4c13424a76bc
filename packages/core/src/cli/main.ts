#!/usr/bin/env node
/**
 * The `hpc-jupyter` command: parses the command line, runs one command, and turns errors into a
 * clear message and a documented exit code.
 */
import { parseArgs } from 'node:util';
import { ConfigError, HpcError, InvalidInputError, SshError } from '../errors.js';
import type { CliContext, ClusterCliContext } from './context.js';
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
  hpc-jupyter connect ID [--json]    For a Dask or ipyparallel session: its scheduler or
                                     controller forwarded to this machine, the client files
                                     (TLS files, ipyparallel client file) in a private
                                     directory, and Python that connects.
  hpc-jupyter stop ID                Cancel the session's job.
  hpc-jupyter adopt ID               Take a discovered job in as a session.
  hpc-jupyter doctor [--cluster CLUSTER]
                                     Check config, SSH, host key, scheduler commands, and the
                                     Python and Jupyter on the cluster; say what to fix.
  hpc-jupyter setup --cluster CLUSTER [--json] [--create-venv [PATH]] [--python PY]
                    [--wheelhouse DIR] [--index-url URL]
                                     What each template needs of the job environment and
                                     what is missing; --create-venv makes an environment
                                     with everything there and sets the cluster's python.
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

function parseFlags(argv: string[]) {
  return parseArgs({
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
}

type Flags = ReturnType<typeof parseFlags>['values'];

/** Commands that use the configuration and SSH themselves instead of asking the agent. */
const CLUSTER_COMMANDS = new Set(['clusters', 'site', 'run', 'doctor']);

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
  if (argv[0] === 'setup') {
    const { setupCommand } = await import('./setup-command.js');
    return setupCommand(argv.slice(1));
  }
  if (argv[0] === 'kernelspec') {
    const { kernelspecCommand } = await import('./kernelspec-command.js');
    return kernelspecCommand(argv.slice(1), { out: process.stdout, err: process.stderr });
  }
  const { values, positionals } = parseFlags(argv);
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
  const [command = '', ...rest] = positionals;
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort(new Error('interrupted'));
  });
  const { createContext, withClusters } = await import('./context.js');
  const ctx = createContext(controller.signal);
  if (!CLUSTER_COMMANDS.has(command)) return sessionCommand(ctx, command, rest, values);
  const withConfig = await withClusters(ctx);
  try {
    return await clusterCommand(withConfig, command, rest, values);
  } finally {
    await withConfig.clusters.close();
  }
}

async function clusterCommand(
  ctx: ClusterCliContext,
  command: string,
  rest: readonly string[],
  values: Flags,
): Promise<ExitCode> {
  const json = values.json === true;
  switch (command) {
    case 'clusters': {
      const { clustersCommand } = await import('./clusters-command.js');
      return clustersCommand(ctx, json);
    }
    case 'site': {
      const cluster = rest[0] ?? values.cluster;
      if (cluster === undefined)
        throw new UsageError('Which cluster? Usage: hpc-jupyter site CLUSTER');
      const { siteCommand } = await import('./site-command.js');
      return siteCommand(ctx, cluster, json);
    }
    case 'run': {
      if (values.cluster === undefined) throw new UsageError('run needs --cluster CLUSTER.');
      if (rest.length === 0) throw new UsageError('run needs a command after --, e.g. -- hostname');
      const nodes = positiveInt('nodes', values.nodes);
      const minutes = positiveInt('minutes', values.minutes);
      const { runCommand } = await import('./run-command.js');
      return runCommand(ctx, {
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
    default: {
      const { doctorCommand } = await import('./doctor-command.js');
      return doctorCommand(ctx, values.cluster);
    }
  }
}

/** Commands that go through the agent (started on demand). */
async function sessionCommand(
  ctx: CliContext,
  command: string,
  rest: readonly string[],
  values: Flags,
): Promise<ExitCode> {
  const json = values.json === true;
  if (command === 'start') {
    const template = rest[0];
    if (template === undefined)
      throw new UsageError('Which template? e.g. hpc-jupyter start jupyter --cluster local');
    const params = parseParams(values.param ?? []);
    if (values.nodes !== undefined) params.nodes = values.nodes;
    if (values.hours !== undefined) params.hours = values.hours;
    if (values.partition !== undefined) params.partition = values.partition;
    if (values.account !== undefined) params.account = values.account;
    if (values.qos !== undefined) params.qos = values.qos;
    const { startCommand } = await import('./start-command.js');
    return startCommand(ctx, {
      template,
      cluster: values.cluster ?? 'local',
      params,
      json,
      noWait: values['no-wait'] === true,
    });
  }
  if (command === 'agent') {
    const agent = await import('./agent-command.js');
    return rest[0] === 'stop' ? agent.agentStopCommand(ctx) : agent.agentCommand(ctx.err);
  }
  const sessions = await import('./session-commands.js');
  switch (command) {
    case 'templates':
      return sessions.templatesCommand(ctx, json);
    case 'list':
      return sessions.listCommand(ctx, json, values.cluster);
    case 'status':
      return sessions.statusCommand(ctx, sessionId(rest), json);
    case 'logs':
      return sessions.logsCommand(
        ctx,
        sessionId(rest),
        values.follow === true,
        positiveInt('lines', values.lines) ?? 100,
      );
    case 'open':
      return sessions.openCommand(ctx, sessionId(rest), json);
    case 'connect':
      return sessions.connectCommand(ctx, sessionId(rest), json);
    case 'stop':
      return sessions.stopCommand(ctx, sessionId(rest), json);
    case 'adopt':
      return sessions.adoptCommand(ctx, sessionId(rest));
    default:
      throw new UsageError(`Unknown command "${command}". Run hpc-jupyter --help.`);
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
