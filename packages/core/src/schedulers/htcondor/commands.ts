/**
 * The exact argv of every HTCondor command the adapter runs, as pure functions. Status asks only
 * for the attributes it reads (`-attributes`), as JSON, from the queue first and the history for
 * jobs that left it.
 */

/** Job ClassAd attributes the parser reads. MaxRuntime is ours (seconds; see directives.ts). */
export const JOB_ATTRIBUTES = [
  'ClusterId',
  'ProcId',
  'JobStatus',
  'JobBatchName',
  'Owner',
  'HoldReason',
  'RemoveReason',
  'QDate',
  'JobCurrentStartDate',
  'JobStartDate',
  'CompletionDate',
  'EnteredCurrentStatus',
  'ExitCode',
  'ExitBySignal',
  'ExitSignal',
  'RemoteHost',
  'LastRemoteHost',
  'MaxRuntime',
] as const;

/** The submit description comes on standard input (`-`); -terse prints "123.0 - 123.0". */
export function condorSubmitArgv(): string[] {
  return ['condor_submit', '-terse', '-'];
}

export function condorQArgv(ids: readonly string[]): string[] {
  return ['condor_q', '-json', '-attributes', JOB_ATTRIBUTES.join(','), ...ids];
}

/** This user's jobs in the queue (condor_q's default since 8.6), to find ours again by name. */
export function condorQMineArgv(): string[] {
  return ['condor_q', '-json', '-attributes', JOB_ATTRIBUTES.join(',')];
}

/** Jobs that left the queue; the schedd's history file answers, so unknown ids print nothing. */
export function condorHistoryArgv(ids: readonly string[]): string[] {
  return ['condor_history', '-json', '-attributes', JOB_ATTRIBUTES.join(','), ...ids];
}

export function condorRmArgv(ids: readonly string[]): string[] {
  return ['condor_rm', ...ids];
}

export const SLOT_ATTRIBUTES = [
  'Machine',
  'Name',
  'SlotType',
  'State',
  'Cpus',
  'Memory',
  'GPUs',
  'TotalCpus',
  'TotalMemory',
  'TotalGPUs',
] as const;

/** Slots of the pool, for what one machine offers a job. */
export function condorStatusArgv(): string[] {
  return ['condor_status', '-json', '-attributes', SLOT_ATTRIBUTES.join(',')];
}
