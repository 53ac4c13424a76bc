/**
 * What HTCondor messages mean for the user: the line worth quoting and a hint that says what to
 * do next. Pure, so recorded messages are tested.
 */

import { quoteLines, type StderrReader } from '../batch-commands.js';

/** The schedd or collector cannot be reached: try again later, never read as "the job ended". */
const UNREACHABLE = [
  /failed to fetch ads from/i,
  /failed to connect to/i,
  /can't find address of (?:local )?schedd/i,
  /CEDAR:6001/,
  /SECMAN:2007/,
  /connection refused/i,
  /timed out/i,
  /error: communication error/i,
];

const HINTS: readonly [RegExp, string][] = [
  [
    /executable .*(?:does not exist|not found)|no such file/i,
    'The job script must be on a filesystem the submit host sees; check the work directory.',
  ],
  [/accounting.?group/i, 'Check the accounting group; the site decides which groups you may use.'],
  [/request_memory|memory/i, 'Ask for less memory: no machine of the pool offers that much.'],
  [
    /parallel universe|dedicated scheduler|machine_count/i,
    'Multi-node jobs need the parallel universe with a dedicated scheduler; ask the site, or run one job per node.',
  ],
  [/not authorized|permission denied|not the owner/i, 'Only the owner of a job may do this.'],
];

export function isHtcondorUnreachable(stderr: string): boolean {
  return UNREACHABLE.some((re) => re.test(stderr));
}

export function htcondorErrorLine(stderr: string): string {
  return quoteLines(stderr, /^(?:--\s*|ERROR:\s*)/i);
}

export function htcondorHint(stderr: string): string | undefined {
  if (isHtcondorUnreachable(stderr)) {
    return 'The HTCondor schedd did not answer; try again in a minute, or ask the site whether HTCondor is up.';
  }
  return HINTS.find(([re]) => re.test(stderr))?.[1];
}

export const HTCONDOR_STDERR: StderrReader = { errorLine: htcondorErrorLine, hint: htcondorHint };

/** condor_rm complaints that mean "nothing left to remove". */
const CANCEL_TOLERATED = [
  /not found/i,
  /already marked for removal/i,
  /couldn't find\/remove all jobs/i,
];

export function classifyCondorRm(output: string): { ignored: string[]; errors: string[] } {
  const ignored: string[] = [];
  const errors: string[] = [];
  for (const line of output.split('\n').map((l) => l.trim())) {
    if (line === '' || (/marked for removal$/i.test(line) && !/already/i.test(line))) continue;
    if (CANCEL_TOLERATED.some((re) => re.test(line))) ignored.push(line);
    else errors.push(line);
  }
  return { ignored, errors };
}
