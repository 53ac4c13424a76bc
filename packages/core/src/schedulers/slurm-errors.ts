/**
 * What Slurm's error messages mean for the user: the line worth quoting from a command's stderr,
 * and a hint that says what to do next. Pure, so the recorded messages can be tested.
 */

/** Slurm messages that say the controller or database could not be reached (try again later). */
const UNREACHABLE = [
  /unable to contact slurm controller/i,
  /socket timed out/i,
  /connection refused/i,
  /slurm_persist_conn_open/i,
  /problem talking to the database/i,
];

/** The accounting database is not configured on this cluster at all. */
const ACCOUNTING_DISABLED = [
  /accounting storage is disabled/i,
  /not running a supported accounting_storage plugin/i,
];

const HINTS: readonly [RegExp, string][] = [
  [/invalid partition/i, 'Check the partition name; `sinfo` lists the partitions of this cluster.'],
  [
    /invalid account|account\/partition combination/i,
    'Check the account name and that it may use this partition (`sacctmgr show assoc user=$USER`).',
  ],
  [/invalid qos/i, 'Check the QOS name and that your account may use it.'],
  [/time limit/i, "Ask for less time: the walltime exceeds the partition's or QOS's limit."],
  [/memory specification/i, 'Ask for less memory per node.'],
  [
    /node configuration is not available|more processors requested than permitted|node count specification invalid/i,
    'Ask for fewer nodes, CPUs or GPUs: no node set in this partition can satisfy the request.',
  ],
  [
    /accounting\/qos policy|qosmax|assocmax|job violates/i,
    'The request exceeds a limit of your account or QOS; ask for fewer resources or another QOS.',
  ],
  [/access\/permission denied|permission denied/i, 'Only the owner of a job may do this.'],
  [/dos line breaks/i, 'Convert the job script to Unix line endings (LF).'],
];

export function isControllerUnreachable(stderr: string): boolean {
  return UNREACHABLE.some((re) => re.test(stderr));
}

export function isAccountingDisabled(stderr: string): boolean {
  return ACCOUNTING_DISABLED.some((re) => re.test(stderr));
}

/**
 * What a Slurm command said went wrong, without the "sbatch: error:" prefixes: its error lines
 * joined with "; " ("invalid partition specified: nosuch; Batch job submission failed: Invalid
 * partition name specified"), or its last line when none says "error".
 */
export function slurmErrorLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const errors = lines.filter((l) => /error/i.test(l));
  const chosen = errors.length > 0 ? errors : lines.slice(-1);
  const cleaned = [
    ...new Set(
      chosen.map((l) => l.replace(/^(?:[a-z_]+:\s*)?(?:(?:fatal|error):\s*)+/i, '').trim()),
    ),
  ];
  const text = cleaned.join('; ');
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

/** A hint for the user, or undefined when the message says nothing we can act on. */
export function slurmHint(stderr: string): string | undefined {
  if (isControllerUnreachable(stderr)) {
    return 'The Slurm controller did not answer; try again in a minute, or ask the site whether Slurm is up.';
  }
  return HINTS.find(([re]) => re.test(stderr))?.[1];
}
