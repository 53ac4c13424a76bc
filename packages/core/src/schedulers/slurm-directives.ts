/**
 * Renders a validated ResourceRequest as `#SBATCH` lines and places them in a job script. Pure:
 * the tests assert the exact lines.
 */

import { InvalidInputError } from '../errors.js';
import { validateResources } from './resources.js';
import { formatSlurmDuration } from './slurm-time.js';
import type { ResourceRequest } from './types.js';

/**
 * Refused in any value. Sbatch 22.05 itself only splits a script into heterogeneous components at
 * a standalone `#SBATCH hetjob` line (checked on the test cluster: `--job-name=my-hetjob-x` stays
 * one job), but the burst-buffer plugins scan the script for any `#SBATCH` line containing either
 * word, and would split the job there on sites that use them.
 */
const HETJOB_WORDS = /hetjob|packjob/i;

/** Characters that need quoting in a directive value: sbatch splits at spaces, strips quotes,
 * treats `\` as an escape and an unquoted `#` as the start of a comment. */
const NEEDS_QUOTING = /[\s"'\\#]/;

/**
 * The `#SBATCH` lines for a request, in a fixed order. Validates first (InvalidInputError), so
 * nothing unchecked is ever rendered.
 */
export function renderSlurmDirectives(req: ResourceRequest): string[] {
  validateResources(req);
  const options: [string, string | undefined][] = [
    ['job-name', req.name],
    ['nodes', num(req.nodes)],
    ['ntasks-per-node', num(req.tasksPerNode)],
    ['cpus-per-task', num(req.cpusPerTask)],
    // Memory per node in MiB, with the unit spelled out so no site default unit applies.
    ['mem', req.memoryMiB === undefined ? undefined : `${req.memoryMiB}M`],
    [
      'gpus-per-node',
      req.gpusPerNode === undefined || req.gpusPerNode === 0 ? undefined : num(req.gpusPerNode),
    ],
    // D-HH:MM:SS, because a bare number is minutes but "MM:SS" is easy to misread.
    [
      'time',
      req.walltimeMinutes === undefined ? undefined : formatSlurmDuration(req.walltimeMinutes),
    ],
    ['partition', req.partition],
    ['account', req.account],
    ['qos', req.qos],
    ['mail-type', req.mailOnStart === undefined ? undefined : 'BEGIN'],
    ['mail-user', req.mailOnStart],
    ['chdir', req.workdir],
    ['output', req.output],
    // A requeued job (node failure, preemption) keeps the log of its first attempt.
    ['open-mode', req.output === undefined ? undefined : 'append'],
  ];
  const lines: string[] = [];
  for (const [option, value] of options) {
    if (value === undefined) continue;
    if (HETJOB_WORDS.test(value)) {
      throw new InvalidInputError(
        `${option} ${JSON.stringify(value)} contains "${HETJOB_WORDS.exec(value)?.[0] ?? ''}": ` +
          'Slurm reads that word in a #SBATCH line as the start of a heterogeneous job component',
        { hint: 'Choose a name or path without "hetjob" or "packjob" in it.' },
      );
    }
    lines.push(`#SBATCH --${option}=${quoteDirectiveValue(value)}`);
  }
  return lines;
}

/**
 * A value as sbatch's directive reader will read it back: plain when safe, otherwise in double
 * quotes with `\` and `"` escaped. `%` is left alone: in --output it is Slurm's file pattern
 * (%j = job id), which callers may want.
 */
export function quoteDirectiveValue(value: string): string {
  if (!NEEDS_QUOTING.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * The script with the directives right after its `#!` line, where sbatch looks for them (it
 * stops at the first command). Throws InvalidInputError for a script without `#!` or with DOS line
 * endings, which sbatch refuses with a less helpful message.
 */
export function insertDirectives(script: string, directives: readonly string[]): string {
  if (!script.startsWith('#!')) {
    throw new InvalidInputError(
      'the job script does not start with a "#!" line: sbatch needs an interpreter line first',
      { hint: 'Begin the script with a line such as "#!/bin/bash".' },
    );
  }
  if (script.includes('\r\n')) {
    throw new InvalidInputError(
      'the job script has DOS (CRLF) line endings, which sbatch refuses',
      {
        hint: 'Convert the script to Unix line endings (LF).',
      },
    );
  }
  const newline = script.indexOf('\n');
  const shebang = newline === -1 ? script : script.slice(0, newline);
  const body = newline === -1 ? '' : script.slice(newline + 1);
  return [shebang, ...directives, body].join('\n');
}

function num(value: number | undefined): string | undefined {
  return value === undefined ? undefined : String(value);
}
