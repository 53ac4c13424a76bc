/**
 * The narrow interface every batch-system adapter implements, and the scheduler-neutral request
 * and status shapes the rest of the core speaks.
 */

export type SchedulerKind = 'slurm' | 'pbs' | 'lsf' | 'htcondor' | 'local';

/**
 * Session states (DESIGN.md). A scheduler reports the subset that it can know: a job that runs is
 * `starting` until the session layer sees its connection file and calls it `ready`.
 */
export type SessionState =
  | 'submitting'
  | 'queued'
  | 'starting'
  | 'ready'
  | 'stopping'
  | 'completed'
  | 'failed'
  | 'cancelled'
  | 'timed-out'
  | 'unknown';

export type JobState = Exclude<SessionState, 'submitting' | 'ready'>;

/** States after which a job never changes again. `unknown` is never one of them. */
export const FINAL_STATES: ReadonlySet<JobState> = new Set([
  'completed',
  'failed',
  'cancelled',
  'timed-out',
]);

export function isFinal(state: SessionState): boolean {
  return FINAL_STATES.has(state as JobState);
}

/** What a job asks of the batch system, in terms every adapter can express. */
export interface ResourceRequest {
  /** Job name; our jobs carry the `hpcj-` prefix so they can be found again. */
  readonly name: string;
  readonly nodes?: number;
  readonly tasksPerNode?: number;
  readonly cpusPerTask?: number;
  /** Memory per node in MiB. */
  readonly memoryMiB?: number;
  /** GPUs per node. */
  readonly gpusPerNode?: number;
  readonly walltimeMinutes?: number;
  readonly partition?: string;
  readonly account?: string;
  readonly qos?: string;
  /** Address to mail when the job starts. */
  readonly mailOnStart?: string;
  /** Working directory of the job on the cluster (absolute). */
  readonly workdir?: string;
  /** Path for the job's combined stdout/stderr on the cluster (absolute). */
  readonly output?: string;
}

export interface SubmitRequest {
  /** The job script body, starting with its `#!` line; the adapter adds its directives. */
  readonly script: string;
  readonly resources: ResourceRequest;
}

export interface JobStatus {
  readonly id: string;
  readonly state: JobState;
  /** The batch system's own state name, e.g. "PENDING", "OUT_OF_MEMORY". */
  readonly nativeState: string;
  readonly name?: string;
  /** Why a job is pending or held ("Resources", "Priority"), or why it ended. */
  readonly reason?: string;
  /** Scheduler's estimate of when a pending job starts. */
  readonly expectedStart?: Date;
  readonly submitTime?: Date;
  readonly startTime?: Date;
  readonly endTime?: Date;
  readonly timeLimitMinutes?: number;
  /** Host names of the allocation, expanded ("node1", "node2"). */
  readonly nodes?: readonly string[];
  readonly exitCode?: number;
  /** Signal that ended the job, if any. */
  readonly exitSignal?: number;
}

export interface OperationOptions {
  readonly signal?: AbortSignal;
}

export interface PartitionInfo {
  readonly name: string;
  readonly isDefault: boolean;
  readonly available: boolean;
  readonly totalNodes?: number;
  readonly cpusPerNode?: number;
  readonly memoryMiBPerNode?: number;
  readonly maxNodes?: number;
  /** Undefined means no limit. */
  readonly maxWalltimeMinutes?: number;
  readonly defaultWalltimeMinutes?: number;
  readonly gpusPerNode?: number;
}

export interface SiteInfo {
  readonly partitions: readonly PartitionInfo[];
  /** Accounts this user may charge; empty when the site has no accounting. */
  readonly accounts: readonly string[];
  /** QOS this user may use; empty when none are configured. */
  readonly qos: readonly string[];
  readonly defaultAccount?: string;
  readonly user: string;
  /** A pool without queues (HTCondor): what its machines offer, in place of partitions. */
  readonly pool?: PoolInfo;
}

export interface PoolInfo {
  readonly machines: number;
  readonly cpusPerMachine?: number;
  readonly memoryMiBPerMachine?: number;
  readonly gpusPerMachine?: number;
}

export interface Scheduler {
  readonly kind: SchedulerKind;
  /** Submits a job and returns its id. Validates every resource value before anything runs. */
  submit(request: SubmitRequest, options?: OperationOptions): Promise<string>;
  /**
   * Status of many jobs in one scheduler call (plus at most one accounting call for the ones that
   * left the queue). Every id asked for is in the result; one the scheduler could not answer for
   * is `unknown`, never `completed`.
   */
  status(ids: readonly string[], options?: OperationOptions): Promise<Map<string, JobStatus>>;
  cancel(ids: readonly string[], options?: OperationOptions): Promise<void>;
  siteInfo(options?: OperationOptions): Promise<SiteInfo>;
  /** This user's live jobs whose name starts with `namePrefix` (to find our jobs again). */
  listJobs(namePrefix: string, options?: OperationOptions): Promise<JobStatus[]>;
}
