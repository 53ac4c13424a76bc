/**
 * The job's environment file (`<sessionDir>/job.env`, mode 0600), the only way parameter values,
 * the session id and the Python path reach a job: `export NAME=value` lines, each value quoted so
 * that the shell sourcing it interprets nothing. Pure.
 */

import { InvalidInputError } from '../errors.js';
import { quoteShellArg } from '../transport/shell-quote.js';
import type { ParamValue } from './types.js';

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const PARAM_NAME = /^[a-z][A-Za-z0-9]*$/;

/** `workersPerNode` -> `HPCJ_PARAM_WORKERS_PER_NODE`. */
export function paramEnvName(param: string): string {
  if (!PARAM_NAME.test(param)) {
    throw new InvalidInputError(
      `Parameter name ${JSON.stringify(param)} cannot become an environment variable: ` +
        'parameter names are letters and digits in camelCase, starting with a lower-case letter.',
    );
  }
  return `HPCJ_PARAM_${param.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * The file's text: a header, then one `export` line per variable in the given order. Names are
 * checked; values are single-quoted unless they are plain words (a path, a number), so `;`, `$()`,
 * backticks, quotes and newlines stay text.
 */
export function renderEnvFile(vars: ReadonlyMap<string, ParamValue>): string {
  const lines = [
    '# hpc-jupyter job environment, sourced by the job script from its session directory.',
    '# Written by hpc-jupyter with mode 0600; values are quoted where needed and taken literally.',
  ];
  for (const [name, value] of vars) {
    if (!ENV_NAME.test(name)) {
      throw new InvalidInputError(
        `${JSON.stringify(name)} is not a valid environment variable name for job.env: ` +
          'use upper-case letters, digits and _, not starting with a digit.',
      );
    }
    lines.push(`export ${name}=${quoteShellArg(String(value))}`);
  }
  return `${lines.join('\n')}\n`;
}
