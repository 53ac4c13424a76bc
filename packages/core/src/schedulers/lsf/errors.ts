/**
 * What LSF messages mean for the user: the line worth quoting and a hint that says what to do
 * next. Pure, so recorded messages are tested.
 */

import { quoteLines, type StderrReader } from '../batch-commands.js';

/** mbatchd or LIM cannot be reached: try again later, never read as "the job ended". */
const UNREACHABLE = [
  /LSF is down/i,
  /cannot connect to LSF/i,
  /batch system daemon not responding/i,
  /batch system not responding/i,
  /failed in an LSF library call/i,
  /connection refused/i,
  /timed out/i,
];

const HINTS: readonly [RegExp, string][] = [
  [/no such queue/i, 'Check the queue name; `bqueues` lists the queues of this cluster.'],
  [/project/i, 'Check the project name (-P) and that you may charge it.'],
  [
    /not a user of this queue|user cannot use the queue|not allowed to use/i,
    'You may not use this queue; choose another or ask the site.',
  ],
  [/run ?limit|runtime limit/i, "Ask for less time: the walltime exceeds the queue's run limit."],
  [/memory/i, 'Ask for less memory per node.'],
  [
    /processors|slots|too many/i,
    'Ask for fewer nodes or cores: the request exceeds the queue limit.',
  ],
  [
    /resource requirement|bad resource/i,
    'The site refused the resource request; check GPUs and memory against `bhosts`.',
  ],
  [/not the owner|permission denied|no permission/i, 'Only the owner of a job may do this.'],
];

export function isLsfUnreachable(stderr: string): boolean {
  return UNREACHABLE.some((re) => re.test(stderr));
}

export function lsfErrorLine(stderr: string): string {
  return quoteLines(stderr, /^(?:bsub|bjobs|bkill|bqueues|bhosts):\s*/i);
}

export function lsfHint(stderr: string): string | undefined {
  if (isLsfUnreachable(stderr)) {
    return 'The LSF master (mbatchd) did not answer; try again in a minute, or ask the site whether LSF is up.';
  }
  return HINTS.find(([re]) => re.test(stderr))?.[1];
}

export const LSF_STDERR: StderrReader = { errorLine: lsfErrorLine, hint: lsfHint };

/** bkill complaints that mean "nothing left to cancel". */
const CANCEL_TOLERATED = [/already finished/i, /no matching job found/i, /is not found/i];

/** Splits bkill's output into lines about jobs already gone and errors that matter. */
export function classifyBkill(stderr: string): { ignored: string[]; errors: string[] } {
  const ignored: string[] = [];
  const errors: string[] = [];
  for (const line of stderr.split('\n').map((l) => l.trim())) {
    if (line === '' || /is being terminated|is being signaled/i.test(line)) continue;
    if (CANCEL_TOLERATED.some((re) => re.test(line))) ignored.push(line);
    else errors.push(line);
  }
  return { ignored, errors };
}
