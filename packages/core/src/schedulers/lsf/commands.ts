/**
 * The exact argv of every LSF command the adapter runs, as pure functions. Status uses the
 * customised output (`-o`) as JSON (LSF >= 10.1.0.2), so no field can run into the next.
 */

/** bjobs formats times on the client in its local zone, without the zone: TZ=UTC fixes that. */
const UTC = ['env', 'TZ=UTC'] as const;

/** bjobs fields; the JSON keys are these names in upper case. */
export const BJOBS_FIELDS = [
  'jobid',
  'jobindex',
  'stat',
  'job_name',
  'user',
  'queue',
  'exec_host',
  'submit_time',
  'start_time',
  'finish_time',
  'exit_code',
  'exit_reason',
  'pend_reason',
  'runtimelimit',
] as const;

/**
 * Status of the given jobs in every state (`-a`: finished ones stay for CLEAN_PERIOD, an hour by
 * default). `-hms` prints the run limit as hh:mm:ss without the host name ABS_RUNLIMIT adds.
 */
export function bjobsArgv(ids: readonly string[]): string[] {
  return [...UTC, 'bjobs', '-o', BJOBS_FIELDS.join(' '), '-json', '-hms', '-a', ...ids];
}

/** This user's unfinished jobs (bjobs' default), to find ours again by name. */
export function bjobsMineArgv(): string[] {
  return [...UTC, 'bjobs', '-o', BJOBS_FIELDS.join(' '), '-json', '-hms'];
}

/** The script comes on standard input; bsub prints "Job <123> is submitted to queue <q>.". */
export function bsubArgv(): string[] {
  return ['bsub'];
}

export function bkillArgv(ids: readonly string[]): string[] {
  return ['bkill', ...ids];
}

/** Fields named as bqueues' default columns (QUEUE_NAME, STATUS, MAX); run limits are not among them. */
export const BQUEUES_FIELDS = ['queue_name', 'status', 'max'] as const;

export function bqueuesArgv(): string[] {
  return ['bqueues', '-o', BQUEUES_FIELDS.join(' '), '-json'];
}

export const BHOSTS_FIELDS = ['host_name', 'status', 'max'] as const;

export function bhostsArgv(): string[] {
  return ['bhosts', '-o', BHOSTS_FIELDS.join(' '), '-json'];
}

/** The cluster's parameters; its "Default Queues:" line names the default queue. */
export function bparamsArgv(): string[] {
  return ['bparams'];
}
