/**
 * The exact argv of every Slurm command the adapter runs, as pure functions, so tests can pin
 * them and the parsers can share the field orders with the commands that produce them.
 */

/**
 * ASCII unit separator between fields: it cannot be typed into a job name by accident and never
 * appears in Slurm's own values, unlike "|" which sacct's default parsable output uses.
 */
export const FIELD_SEPARATOR = '\x1f';

/**
 * Epoch seconds for every timestamp, whatever the site's time zone or locale: without it squeue
 * prints local time with no zone. TZ=UTC keeps Slurm's localtime/mktime round trip exact across
 * daylight-saving changes. Passed through `env` in argv because SSH servers drop most variables.
 */
const TIME_ENV = ['env', 'TZ=UTC', 'SLURM_TIME_FORMAT=%s'] as const;

/**
 * Squeue fields, in output order. The name comes last so that a separator inside a name (not
 * possible through our own validation, but other jobs of the user are not ours) only lengthens
 * the name instead of shifting the other fields. A zero width (no digits after %) prints each
 * value in full.
 */
export const SQUEUE_FIELDS = [
  ['id', '%i'],
  ['state', '%T'],
  ['reason', '%r'],
  ['submit', '%V'],
  ['start', '%S'],
  ['end', '%e'],
  ['timeLimit', '%l'],
  ['partition', '%P'],
  ['nodes', '%N'],
  ['name', '%j'],
] as const;

/**
 * One squeue for all of this user's jobs, in every state squeue still remembers (finished jobs
 * stay for MinJobAge, 300 s by default), filtered by id on our side. Why not `--jobs=<ids>`: on
 * 22.05 a lone unknown id makes squeue fail ("slurm_load_jobs error: Invalid job id specified",
 * seen on the test cluster), which would hide the answer for every other id, and one id from an
 * old session is enough. With a single `--user`, squeue asks slurmctld for that user's jobs only
 * (slurm_load_job_user), so the controller does no more work than for `--jobs`. Why not
 * `--json`: on 22.05 it ignores every filter (squeue(1)) and returns all jobs of all users, which
 * on a large site is megabytes per poll.
 */
export function squeueArgv(user: string): string[] {
  const format = SQUEUE_FIELDS.map(([, spec]) => spec).join(FIELD_SEPARATOR);
  return [
    ...TIME_ENV,
    'squeue',
    '--noheader',
    '--states=all',
    `--user=${user}`,
    `--format=${format}`,
  ];
}

/** Sacct fields, in output order; the name last for the same reason as in squeue. */
export const SACCT_FIELDS = [
  'JobID',
  'State',
  'ExitCode',
  'Reason',
  'Submit',
  'Start',
  'End',
  'Timelimit',
  'Partition',
  'NodeList',
  'JobName',
] as const;

/**
 * The accounting record of jobs that left the queue. `--allocations` gives one line per job
 * instead of one per step; with `--jobs` sacct searches from the epoch, so old ids are found.
 */
export function sacctArgv(ids: readonly string[]): string[] {
  return [
    ...TIME_ENV,
    'sacct',
    '--noheader',
    '--parsable2',
    '--allocations',
    `--delimiter=${FIELD_SEPARATOR}`,
    `--jobs=${ids.join(',')}`,
    `--format=${SACCT_FIELDS.join(',')}`,
  ];
}

/**
 * Partitions and their limits, one line per partition and node configuration (`--exact`, so CPU
 * and memory are exact instead of "min+"). `%s` is "MinNodes-MaxNodes", which spares a second call
 * to `scontrol show partition`; gres last because it may contain commas and parentheses.
 */
export const SINFO_FIELDS = [
  ['partition', '%P'],
  ['availability', '%a'],
  ['nodes', '%D'],
  ['cpus', '%c'],
  ['memory', '%m'],
  ['maxTime', '%l'],
  ['defaultTime', '%L'],
  ['jobSize', '%s'],
  ['gres', '%G'],
] as const;

export function sinfoArgv(): string[] {
  const format = SINFO_FIELDS.map(([, spec]) => spec).join(FIELD_SEPARATOR);
  return ['sinfo', '--noheader', '--exact', `--format=${format}`];
}

/** Accounts, partitions and QOS this user is associated with ("acct|part|qos1,qos2"). */
export function sacctmgrAssocArgv(user: string): string[] {
  return [
    'sacctmgr',
    '--noheader',
    '--parsable2',
    'show',
    'associations',
    `user=${user}`,
    'format=Account,Partition,QOS',
  ];
}

export function sacctmgrUserArgv(user: string): string[] {
  return ['sacctmgr', '--noheader', '--parsable2', 'show', 'user', user, 'format=DefaultAccount'];
}

/** The script comes on standard input; `--parsable` prints "id" or "id;cluster". */
export function sbatchArgv(): string[] {
  return ['sbatch', '--parsable'];
}

export function scancelArgv(ids: readonly string[]): string[] {
  return ['scancel', ...ids];
}

export function whoamiArgv(): string[] {
  return ['id', '-un'];
}
