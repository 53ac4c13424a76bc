/** Exit codes of the `hpc-jupyter` command, documented in `--help`. */
export const EXIT = {
  ok: 0,
  /** Something failed; the message says what. */
  error: 1,
  /** The command line was wrong. */
  usage: 2,
  /** The configuration has a problem that stops this command. */
  config: 3,
  /** The job ran and failed, was cancelled or timed out. */
  jobFailed: 4,
  /** The cluster could not be reached or refused us (SSH, host key, authentication). */
  connection: 5,
  /** Interrupted with Ctrl-C. */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    failure (the message says what)
  2    bad command line
  3    configuration problem
  4    the job failed, was cancelled or timed out
  5    the cluster could not be reached (SSH, host key, authentication)
  130  interrupted`;
