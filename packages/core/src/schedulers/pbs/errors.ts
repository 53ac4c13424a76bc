/**
 * What PBS Pro/OpenPBS and Torque messages mean for the user: the line worth quoting from a
 * command's stderr, and a hint that says what to do next. Pure, so recorded messages are tested.
 */

import { quoteLines, type StderrReader } from '../batch-commands.js';

/** The server cannot be reached: try again later, never read as "the job ended". */
const UNREACHABLE = [
  /cannot connect to (?:specified )?server/i,
  /connection refused/i,
  /unable to communicate with/i,
  /communication failure/i,
  /pbs_connect/i,
  /timed out/i,
];

const HINTS: readonly [RegExp, string][] = [
  [/unknown queue/i, 'Check the queue name; `qstat -Q` lists the queues of this cluster.'],
  [
    /unauthorized request|not authorized|access denied/i,
    'Check the account (-A) and that you may use this queue.',
  ],
  [
    /exceeds queue resource limits|would exceed queue .*limit|resources_max/i,
    'Ask for fewer resources or less walltime: the request exceeds the queue limits.',
  ],
  [
    /unknown resource|undefined resource/i,
    'The site does not define that resource (for example ngpus); ask fewer kinds of resources or ask the site.',
  ],
  [
    /insufficient amount of resource|can never run|not enough/i,
    'Ask for fewer nodes, CPUs, memory or GPUs: no node set can satisfy the request.',
  ],
  [
    /illegal attribute or resource value|illegal -[a-z] value/i,
    'A directive value was refused; check the job name, walltime and resource values.',
  ],
  [/unauthorized request|permission denied/i, 'Only the owner of a job may do this.'],
];

export function isServerUnreachable(stderr: string): boolean {
  return UNREACHABLE.some((re) => re.test(stderr));
}

export function pbsErrorLine(stderr: string): string {
  return quoteLines(stderr, /^(?:qsub|qstat|qdel|pbsnodes):\s*/i);
}

export function pbsHint(stderr: string): string | undefined {
  if (isServerUnreachable(stderr)) {
    return 'The PBS server did not answer; try again in a minute, or ask the site whether PBS is up.';
  }
  return HINTS.find(([re]) => re.test(stderr))?.[1];
}

export const PBS_STDERR: StderrReader = { errorLine: pbsErrorLine, hint: pbsHint };

/** qdel complaints that mean "nothing left to cancel". */
const CANCEL_TOLERATED = [
  /unknown job id/i,
  /job has finished/i,
  /invalid state for job - complete/i,
  /request invalid for state of job/i,
];

/** Splits qdel's stderr into lines about jobs already gone and errors that matter. */
export function classifyQdelErrors(stderr: string): { ignored: string[]; errors: string[] } {
  const ignored: string[] = [];
  const errors: string[] = [];
  for (const line of stderr.split('\n').map((l) => l.trim())) {
    if (line === '') continue;
    if (CANCEL_TOLERATED.some((re) => re.test(line))) ignored.push(line);
    else errors.push(line);
  }
  return { ignored, errors };
}
