/**
 * The `local` scheduler: the embedded default that needs no cluster. It runs the same job scripts
 * as the batch adapters, as detached process groups on this machine, each watched by a small
 * supervisor process (local-supervisor.ts) that outlives the agent. All state is in files under
 * the state root (local-store.ts), so a new instance (an agent restart) sees the same jobs, and
 * status reads those files plus /proc: no process is started to answer it.
 */

import { spawn } from 'node:child_process';
import { open, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { InvalidInputError, SchedulerError, throwIfAborted } from '../errors.js';
import {
  groupAlive,
  isRunning,
  linuxProc,
  type ProcReader,
  signalGroup,
  signalProcess,
} from './local-proc.js';
import { localJobStatus, unknownJob } from './local-status.js';
import {
  defaultStateDir,
  JOB_FILES,
  JOB_ID_PATTERN,
  type JobRecord,
  LocalJobStore,
  type StartedRecord,
  type SupervisorRecord,
} from './local-store.js';
import { SUPERVISOR_SOURCE } from './local-supervisor.js';
import { validateResources } from './resources.js';
import {
  isFinal,
  type JobStatus,
  type OperationOptions,
  type ResourceRequest,
  type Scheduler,
  type SiteInfo,
  type SubmitRequest,
} from './types.js';

export const LOCAL_PARTITION = 'local';
const DEFAULT_KILL_GRACE_SECONDS = 10;

export interface LocalSchedulerOptions {
  /** Default: `${XDG_STATE_HOME:-~/.local/state}/hpc-jupyter/local-jobs`. */
  readonly stateDir?: string;
  /** Seconds between SIGTERM and SIGKILL at walltime and on cancel. Default 10. */
  readonly killGraceSeconds?: number;
  /** For tests only: how long a walltime minute lasts, in seconds. Default 60. */
  readonly secondsPerWalltimeMinute?: number;
  /** The Node binary that runs supervisors. Default: process.execPath. */
  readonly nodePath?: string;
  /** For tests: where process facts come from. Default: /proc. */
  readonly proc?: ProcReader;
}

export class LocalScheduler implements Scheduler {
  readonly kind = 'local' as const;
  readonly store: LocalJobStore;
  private readonly killGraceSeconds: number;
  private readonly minuteSeconds: number;
  private readonly nodePath: string;
  private readonly proc: ProcReader;
  private readonly hostname = os.hostname();

  constructor(options: LocalSchedulerOptions = {}) {
    this.store = new LocalJobStore(options.stateDir ?? defaultStateDir(process.env, os.homedir()));
    this.killGraceSeconds = options.killGraceSeconds ?? DEFAULT_KILL_GRACE_SECONDS;
    this.minuteSeconds = options.secondsPerWalltimeMinute ?? 60;
    this.nodePath = options.nodePath ?? process.execPath;
    this.proc = options.proc ?? linuxProc;
  }

  async submit(request: SubmitRequest, options: OperationOptions = {}): Promise<string> {
    throwIfAborted(options.signal);
    const res = request.resources;
    validateResources(res);
    checkLocalResources(res);
    if (!request.script.startsWith('#!')) {
      throw new InvalidInputError('The job script must start with a #! line.');
    }
    const workdir = res.workdir ?? os.homedir();
    await requireDirectory(workdir, 'workdir');
    if (res.output !== undefined) await requireDirectory(path.dirname(res.output), 'output');
    throwIfAborted(options.signal);

    // From here on the job exists, so finish creating it rather than leave half a directory.
    const id = await this.store.allocate();
    const dir = this.store.jobDir(id);
    const record: JobRecord = {
      id,
      name: res.name,
      resources: res,
      submitTime: new Date().toISOString(),
      workdir,
      output: res.output ?? path.join(dir, JOB_FILES.output),
      ...(res.walltimeMinutes === undefined
        ? {}
        : { walltimeSeconds: res.walltimeMinutes * this.minuteSeconds }),
      killGraceSeconds: this.killGraceSeconds,
    };
    await this.store.writeJobFile(id, JOB_FILES.script, request.script, 0o700);
    await this.store.writeJobFile(id, JOB_FILES.supervisorScript, SUPERVISOR_SOURCE);
    await this.store.writeJobJson(id, JOB_FILES.job, record);
    let supervisor: SupervisorRecord;
    try {
      supervisor = await this.startSupervisor(dir);
    } catch (error) {
      const reason = `the job supervisor could not start: ${String(error)}`;
      await this.store.writeJobJson(id, JOB_FILES.exit, {
        state: 'failed',
        code: null,
        signal: null,
        endTime: new Date().toISOString(),
        reason,
      });
      throw new SchedulerError(`Local job ${id}: ${reason}`, 'local', {
        cause: error,
        hint: `Check that ${this.nodePath} can run Node programs.`,
      });
    }
    await this.store.writeJobJson(id, JOB_FILES.supervisor, supervisor);
    return id;
  }

  async status(
    ids: readonly string[],
    options: OperationOptions = {},
  ): Promise<Map<string, JobStatus>> {
    throwIfAborted(options.signal);
    const bootId = await this.proc.bootId();
    const now = Date.now();
    const all = await Promise.all([...new Set(ids)].map((id) => this.statusOf(id, bootId, now)));
    return new Map(all.map((s) => [s.id, s]));
  }

  /** Marks each job cancelled and has its supervisor stop it; safe to repeat. */
  async cancel(ids: readonly string[], options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const bootId = await this.proc.bootId();
    await Promise.all([...new Set(ids)].map((id) => this.cancelOne(id, bootId)));
  }

  siteInfo(options: OperationOptions = {}): Promise<SiteInfo> {
    throwIfAborted(options.signal);
    return Promise.resolve({
      partitions: [
        {
          name: LOCAL_PARTITION,
          isDefault: true,
          available: true,
          totalNodes: 1,
          cpusPerNode: os.availableParallelism(),
          memoryMiBPerNode: Math.floor(os.totalmem() / 2 ** 20),
          maxNodes: 1,
        },
      ],
      accounts: [],
      qos: [],
      user: os.userInfo().username,
    });
  }

  async listJobs(namePrefix: string, options: OperationOptions = {}): Promise<JobStatus[]> {
    throwIfAborted(options.signal);
    const ids = await this.store.listIds();
    const statuses = await this.status(ids, options);
    return [...statuses.values()]
      .filter((s) => s.name?.startsWith(namePrefix) === true && !isFinal(s.state))
      .sort((a, b) => Number(a.id) - Number(b.id));
  }

  private async statusOf(id: string, bootId: string | undefined, now: number): Promise<JobStatus> {
    if (!JOB_ID_PATTERN.test(id)) return unknownJob(id);
    let snap = await this.store.snapshot(id);
    const nothingAlive = { supervisor: false, job: false };
    if (snap.job === undefined || snap.exit !== undefined) {
      return localJobStatus(snap, nothingAlive, this.hostname, now);
    }
    const alive = {
      supervisor: await this.running(snap.supervisor, bootId),
      job: await this.running(snap.started, bootId),
    };
    // The supervisor may have recorded the end and exited since the snapshot.
    if (!alive.supervisor) snap = { ...snap, exit: await this.store.readExit(id) };
    return localJobStatus(snap, alive, this.hostname, now);
  }

  private async cancelOne(id: string, bootId: string | undefined): Promise<void> {
    if (!JOB_ID_PATTERN.test(id)) return;
    const snap = await this.store.snapshot(id);
    if (snap.job === undefined || snap.exit !== undefined) return;
    // The mark first: a supervisor that is only starting checks it before and after it starts the
    // script, so a cancel is never lost between our look and its start.
    if (snap.cancel === undefined) {
      await this.store.writeJobJson(id, JOB_FILES.cancel, { time: new Date().toISOString() });
    }
    if (snap.supervisor !== undefined && (await this.running(snap.supervisor, bootId))) {
      signalProcess(snap.supervisor.pid, 'SIGTERM');
      return;
    }
    if (snap.started !== undefined && (await this.running(snap.started, bootId))) {
      await this.stopUnsupervised(id, snap.started);
    }
  }

  /** The job outlived its supervisor: stop its group here and record the end ourselves. */
  private async stopUnsupervised(id: string, started: StartedRecord): Promise<void> {
    signalGroup(started.pgid, 'SIGTERM');
    const deadline = Date.now() + this.killGraceSeconds * 1000;
    while (Date.now() < deadline && (await groupAlive(started.pgid, this.proc))) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    signalGroup(started.pgid, 'SIGKILL');
    if ((await this.store.readExit(id)) !== undefined) return;
    await this.store.writeJobJson(id, JOB_FILES.exit, {
      state: 'cancelled',
      code: null,
      signal: null,
      endTime: new Date().toISOString(),
      reason: 'cancelled (after its supervisor had gone)',
    });
  }

  private async running(
    who: SupervisorRecord | undefined,
    bootId: string | undefined,
  ): Promise<boolean> {
    return who !== undefined && isRunning(who, bootId, this.proc);
  }

  /**
   * Starts `node supervisor.mjs <dir>` in its own session with stdio on a log file, so it
   * neither dies with the agent nor holds the agent's terminal or pipes.
   */
  private async startSupervisor(dir: string): Promise<SupervisorRecord> {
    const env: NodeJS.ProcessEnv = { ...process.env, ELECTRON_RUN_AS_NODE: '1' };
    // The agent's Node flags (loaders, inspectors) are not for the supervisor or the job.
    delete env['NODE_OPTIONS'];
    const log = await open(path.join(dir, JOB_FILES.supervisorLog), 'a', 0o600);
    try {
      const child = spawn(this.nodePath, [path.join(dir, JOB_FILES.supervisorScript), dir], {
        cwd: dir,
        detached: true,
        stdio: ['ignore', log.fd, log.fd],
        env,
      });
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      child.unref();
      const pid = child.pid as number;
      const [stat, bootId] = await Promise.all([this.proc.stat(pid), this.proc.bootId()]);
      return { pid, startTicks: stat?.startTicks, bootId };
    } finally {
      await log.close();
    }
  }
}

/**
 * What only the local scheduler refuses: more than this one machine, or another partition.
 * Account, QOS, CPUs, memory and GPUs are accepted and not enforced: there is nothing to charge
 * and nothing to allocate from.
 */
function checkLocalResources(res: ResourceRequest): void {
  if (res.nodes !== undefined && res.nodes !== 1) {
    throw new InvalidInputError(
      `nodes ${res.nodes} is not possible on the local scheduler: it runs each job on this machine only, so nodes must be 1`,
      { hint: 'Pick a cluster with a batch system for jobs on several nodes.' },
    );
  }
  if (res.partition !== undefined && res.partition !== LOCAL_PARTITION) {
    throw new InvalidInputError(
      `partition ${JSON.stringify(res.partition)} does not exist on the local scheduler: its only partition is "${LOCAL_PARTITION}"`,
    );
  }
}

async function requireDirectory(dir: string, field: string): Promise<void> {
  let isDir = false;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch {
    // reported below
  }
  if (!isDir) {
    throw new InvalidInputError(`${field}: ${dir} is not an existing directory on this machine.`, {
      hint: 'Create it first, or leave the field out.',
    });
  }
}
