/**
 * Shared setup for the end-to-end tier: the real Slurm test cluster that `test/cluster/up` brought
 * up (found through HPC_JUPYTER_CONFIG and the env file beside it), its SSH transport as the test
 * user, and a runner that records every command so tests can count scheduler calls.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadConfig } from '../../packages/core/src/config/load.js';
import type { ClusterConfig } from '../../packages/core/src/config/types.js';
import { SshTransport } from '../../packages/core/src/transport/ssh.js';
import type { SshPrompter } from '../../packages/core/src/transport/ssh-options.js';
import type {
  CommandRunner,
  RunOptions,
  RunResult,
} from '../../packages/core/src/transport/types.js';
import { SlurmScheduler } from '../../packages/core/src/schedulers/slurm.js';
import {
  isFinal,
  type JobStatus,
  type Scheduler,
  type SessionState,
} from '../../packages/core/src/schedulers/types.js';

export const REPO_ROOT = join(dirname(new URL(import.meta.url).pathname), '..', '..');
const execFileP = promisify(execFile);

export interface TestCluster {
  readonly configFile: string;
  readonly dir: string;
  readonly env: Readonly<Record<string, string>>;
  readonly testlab: ClusterConfig;
  readonly other: ClusterConfig;
}

/** The test cluster, or a failure that says how to bring it up: e2e tests never skip silently. */
export async function testCluster(): Promise<TestCluster> {
  const configFile = process.env.HPC_JUPYTER_CONFIG;
  if (configFile === undefined || configFile === '') {
    throw new Error(
      'HPC_JUPYTER_CONFIG is not set: run `eval "$(test/cluster/up)"` first (npm test does).',
    );
  }
  const dir = dirname(configFile);
  const env: Record<string, string> = {};
  for (const line of readFileSync(join(dir, 'env'), 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) env[m[1]] = m[2].replace(/^'(.*)'$/, '$1');
  }
  const config = await loadConfig();
  if (config.problems.length > 0) {
    throw new Error(
      `test cluster config has problems: ${config.problems.map((p) => p.message).join('; ')}`,
    );
  }
  const testlab = config.clusters.get('testlab');
  const other = config.clusters.get('testlab-other');
  if (testlab === undefined || other === undefined)
    throw new Error(`${configFile} lacks testlab or testlab-other`);
  return { configFile, dir, env, testlab, other };
}

/** Declines everything: the test cluster's host key is in its known_hosts, so nothing is asked. */
export const decliningPrompter: SshPrompter = {
  password: () => Promise.resolve(undefined),
  keyboardInteractive: () => Promise.resolve(undefined),
  passphrase: () => Promise.resolve(undefined),
  unknownHostKey: () => Promise.resolve(false),
};

export function sshTransportFor(
  cluster: ClusterConfig,
  prompter: SshPrompter = decliningPrompter,
): SshTransport {
  const ssh = cluster.ssh;
  if (ssh === undefined) throw new Error(`${cluster.name} has no ssh section`);
  return new SshTransport(
    {
      host: ssh.host,
      ...(ssh.port === undefined ? {} : { port: ssh.port }),
      ...(ssh.user === undefined ? {} : { user: ssh.user }),
      ...(ssh.identityFile === undefined ? {} : { identityFile: ssh.identityFile }),
      ...(ssh.knownHostsFile === undefined ? {} : { knownHostsFile: ssh.knownHostsFile }),
      ...(ssh.proxyJump === undefined ? {} : { proxyJump: ssh.proxyJump }),
      configFile: null,
    },
    { prompter, agentSocket: null, systemConfigFile: null, globalKnownHostsFiles: [] },
  );
}

/** The program an argv runs, looking through an `env NAME=VALUE ...` prefix. */
export function programOf(argv: readonly string[]): string | undefined {
  let i = 0;
  if (argv[0] === 'env') {
    i = 1;
    while (argv[i]?.includes('=') === true) i++;
  }
  return argv[i];
}

/** A runner that records the argv of every command before passing it on. */
export class RecordingRunner implements CommandRunner {
  readonly calls: string[][] = [];
  constructor(private readonly inner: CommandRunner) {}
  run(argv: readonly string[], options?: RunOptions): Promise<RunResult> {
    this.calls.push([...argv]);
    return this.inner.run(argv, options);
  }
  /** How many recorded commands ran this program (e.g. "squeue"). */
  count(program: string): number {
    return this.calls.filter((argv) => programOf(argv) === program).length;
  }
}

export function slurmFor(runner: CommandRunner): SlurmScheduler {
  return new SlurmScheduler(runner, { clusterName: 'testlab' });
}

/** Polls until the job is final (or the deadline passes) and returns its last status. */
export async function waitFinal(
  scheduler: Scheduler,
  id: string,
  timeoutMs = 60_000,
): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await scheduler.status([id])).get(id);
    if (status !== undefined && isFinal(status.state)) return status;
    if (Date.now() > deadline)
      throw new Error(`job ${id} not final after ${timeoutMs} ms: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Waits until `predicate` holds for the job's status. */
export async function waitFor(
  scheduler: Scheduler,
  id: string,
  predicate: (s: JobStatus) => boolean,
  timeoutMs = 60_000,
): Promise<JobStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = (await scheduler.status([id])).get(id);
    if (status !== undefined && predicate(status)) return status;
    if (Date.now() > deadline)
      throw new Error(
        `job ${id}: condition not met after ${timeoutMs} ms: ${JSON.stringify(status)}`,
      );
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Runs one of the test cluster's own scripts (test/cluster/NAME ARGS...) and returns stdout. */
export async function clusterScript(name: string, ...args: string[]): Promise<string> {
  const { stdout } = await execFileP(join(REPO_ROOT, 'test', 'cluster', name), args, {
    timeout: 120_000,
  });
  return stdout;
}

/** True while the controller still holds a record of the job (running or recently finished). */
export async function inSqueue(id: string): Promise<boolean> {
  try {
    const out = await clusterScript(
      'slurm',
      'squeue',
      '--noheader',
      '--states=all',
      `--jobs=${id}`,
    );
    return out.trim() !== '';
  } catch (error) {
    // squeue exits 1 with "Invalid job id specified" once the record is purged.
    if (String((error as { stderr?: unknown }).stderr).includes('Invalid job id')) return false;
    throw error;
  }
}

/**
 * Waits until job `id` has left squeue, polling each second; fails after `timeoutMs` with what
 * the wait followed (`after`: "stop", "shutdown", ...) in the message.
 */
export async function waitLeftSqueue(id: string, timeoutMs: number, after: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await inSqueue(id)) {
    if (Date.now() > deadline) {
      throw new Error(`job ${id} still in squeue ${timeoutMs / 1000} s after ${after}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export const CLI = join(REPO_ROOT, 'packages', 'core', 'dist', 'cli', 'main.js');

/** Runs the built `hpc-jupyter` command with extra environment. */
export function cli(
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
  timeoutMs = 240_000,
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/**
 * A private agent for one test file: its own runtime dir (socket), state dir (sessions) and
 * config, so tests neither see nor disturb the developer's agent or each other.
 */
export function privateAgentEnv(configFile: string): Record<string, string> {
  const root = mkdtempSync(join(tmpdir(), 'hpcj-agent-'));
  // XDG_RUNTIME_DIR must exist (the session manager of a desktop makes it); the agent makes
  // its own directory inside.
  mkdirSync(join(root, 'run'), { mode: 0o700 });
  return {
    HPC_JUPYTER_CONFIG: configFile,
    XDG_RUNTIME_DIR: join(root, 'run'),
    XDG_STATE_HOME: join(root, 'state'),
    HPC_JUPYTER_AGENT_IDLE_SECONDS: '120',
  };
}

/**
 * Ends a test file's private agent: every session it still has that has not ended is stopped
 * first (whatever a failed test left running), so no job outlives the file.
 */
export async function stopPrivateAgent(env: Readonly<Record<string, string>>): Promise<void> {
  const listed = await cli(['list', '--json'], env);
  if (listed.code === 0) {
    for (const s of JSON.parse(listed.stdout) as { id: string; state: SessionState }[]) {
      if (!isFinal(s.state)) await cli(['stop', s.id], env);
    }
  }
  await cli(['agent', 'stop'], env);
}

export interface TestKernelProfile {
  /** A private directory holding the config copy, the kernelspec and connection files. */
  readonly root: string;
  /** A private agent's environment whose config holds the profile. */
  readonly env: Record<string, string>;
  /** The installed kernelspec's argv, `{connection_file}` still in it. */
  readonly argv: string[];
}

/**
 * Installs a 1-node `kernel` profile on testlab as a kernelspec under a private prefix, with a
 * private agent whose config copy the profile is written into, as a user's `kernelspec install`
 * would.
 */
export async function installTestKernelProfile(
  configFile: string,
  opts: {
    readonly prefix: string;
    readonly profile: string;
    readonly name: string;
    readonly spec: string;
  },
): Promise<TestKernelProfile> {
  const root = mkdtempSync(join(tmpdir(), opts.prefix));
  const env = privateAgentEnv(configFile);
  // Our own copy of the cluster's config: the profile is written into it.
  env['HPC_JUPYTER_CONFIG'] = join(root, 'clusters.yaml');
  copyFileSync(configFile, env['HPC_JUPYTER_CONFIG']);
  env['JUPYTER_PATH'] = join(root, 'share', 'jupyter');
  const installed = await cli(
    [
      'kernelspec',
      'install',
      opts.profile,
      '--cluster',
      'testlab',
      '--template',
      'kernel',
      '--nodes',
      '1',
      '--hours',
      '0.5',
      '--name',
      opts.name,
      '--prefix',
      root,
    ],
    env,
  );
  if (installed.code !== 0) throw new Error(`kernelspec install failed: ${installed.stderr}`);
  const spec = JSON.parse(
    readFileSync(join(root, 'share', 'jupyter', 'kernels', opts.spec, 'kernel.json'), 'utf8'),
  ) as { argv: string[] };
  return { root, env, argv: spec.argv };
}
