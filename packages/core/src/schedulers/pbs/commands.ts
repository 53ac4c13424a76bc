/**
 * The exact argv of every PBS Pro/OpenPBS and Torque command the adapter runs, as pure functions.
 * The two flavours share qsub and qdel; they differ in how qstat and pbsnodes print for programs:
 * PBS Pro (>= 19) prints JSON with `-F json`, Torque (6) prints XML with `-x`.
 */

export type PbsFlavor = 'pbspro' | 'torque';

/**
 * qstat and pbsnodes format times on the client with the local time zone and no zone in the
 * text; TZ=UTC makes the text unambiguous. Passed through `env` because SSH drops variables.
 */
const UTC = ['env', 'TZ=UTC'] as const;

/** The script comes on standard input; qsub prints the new id ("123.server") on stdout. */
export function qsubArgv(): string[] {
  return ['qsub'];
}

/**
 * Full status of the given jobs. PBS Pro: `-x` adds finished jobs kept for job_history_duration.
 * Torque: `-x` is XML, and finished jobs stay as C for keep_completed seconds.
 */
export function qstatJobsArgv(flavor: PbsFlavor, ids: readonly string[]): string[] {
  return flavor === 'pbspro'
    ? [...UTC, 'qstat', '-f', '-F', 'json', '-x', ...ids]
    : [...UTC, 'qstat', '-f', '-x', ...ids];
}

/**
 * Every job the server shows this user, to find ours again by name. `qstat -f` takes no user
 * filter (`-u` only works with the one-line formats), so the adapter keeps this user's by Job_Owner.
 */
export function qstatAllArgv(flavor: PbsFlavor): string[] {
  return flavor === 'pbspro'
    ? [...UTC, 'qstat', '-f', '-F', 'json']
    : [...UTC, 'qstat', '-f', '-x'];
}

export function qdelArgv(ids: readonly string[]): string[] {
  return ['qdel', ...ids];
}

/** Queues with their limits. Torque's `-Q -f` has no XML form: `attr = value` lines. */
export function qstatQueuesArgv(flavor: PbsFlavor): string[] {
  return flavor === 'pbspro' ? ['qstat', '-Q', '-f', '-F', 'json'] : ['qstat', '-Q', '-f'];
}

/** The server's attributes, for its default_queue. */
export function qstatServerArgv(flavor: PbsFlavor): string[] {
  return flavor === 'pbspro' ? ['qstat', '-B', '-f', '-F', 'json'] : ['qstat', '-B', '-f'];
}

export function pbsnodesArgv(flavor: PbsFlavor): string[] {
  return flavor === 'pbspro' ? ['pbsnodes', '-a', '-F', 'json'] : ['pbsnodes', '-x'];
}
