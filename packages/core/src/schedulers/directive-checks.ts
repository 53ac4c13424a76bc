/**
 * Checks and helpers every batch system's directive renderer shares: refusing an option the
 * scheduler has no equivalent for (naming the option), refusing a value its directive reader
 * would split or misread, and placing the header after the script's `#!` line.
 */

import { InvalidInputError } from '../errors.js';
import { describeChar } from './resources.js';

/** An option the scheduler cannot express: the message names the option and says what to do. */
export function unsupportedOption(
  scheduler: string,
  option: string,
  why: string,
  hint: string,
): InvalidInputError {
  return new InvalidInputError(`${option} is not supported on ${scheduler}: ${why}`, { hint });
}

/**
 * Refuses a value containing a character the directive reader gives meaning to. `allowed`
 * describes what may be used instead, for the message.
 */
export function checkPlainValue(
  scheduler: string,
  option: string,
  value: string,
  forbidden: RegExp,
  allowed: string,
): void {
  const bad = Array.from(value).find((ch) => forbidden.test(ch));
  if (bad === undefined) return;
  throw new InvalidInputError(
    `${option} ${JSON.stringify(value)} contains ${describeChar(bad)}, which ${scheduler} would misread in a job directive: ${allowed}`,
  );
}

/**
 * The script with `header` right after its `#!` line, where every batch system looks for its
 * directives (they stop at the first command). Refuses a script without `#!` or with CRLF.
 */
export function insertHeader(script: string, header: readonly string[], tool: string): string {
  if (!script.startsWith('#!')) {
    throw new InvalidInputError(
      `the job script does not start with a "#!" line: ${tool} needs an interpreter line first`,
      { hint: 'Begin the script with a line such as "#!/bin/bash".' },
    );
  }
  if (script.includes('\r\n')) {
    throw new InvalidInputError(
      `the job script has DOS (CRLF) line endings, which ${tool} misreads`,
      { hint: 'Convert the script to Unix line endings (LF).' },
    );
  }
  const newline = script.indexOf('\n');
  const shebang = newline === -1 ? script : script.slice(0, newline);
  const body = newline === -1 ? '' : script.slice(newline + 1);
  return [shebang, ...header, body].join('\n');
}

/** Minutes as "H:MM:SS" with hours unbounded (90 -> "1:30:00", 3000 -> "50:00:00"). */
export function formatHms(minutes: number): string {
  const hours = Math.floor(minutes / 60);
  const mins = minutes % 60;
  return `${String(hours)}:${String(mins).padStart(2, '0')}:00`;
}

/** "[[H:]M:]S" or "H:MM:SS" durations as whole minutes, rounded up; undefined when unreadable. */
export function parseHms(text: string | undefined): number | undefined {
  const value = (text ?? '').trim();
  const match = /^(?:(?:(\d+):)?(\d+):)?(\d+)$/.exec(value);
  if (match === null) return undefined;
  const [, h, m, s] = match;
  const seconds = Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s);
  return Math.ceil(seconds / 60);
}

/** The cores a node needs: tasks per node times CPUs per task, 1 when neither is given. */
export function coresPerNode(tasksPerNode?: number, cpusPerTask?: number): number {
  return (tasksPerNode ?? 1) * (cpusPerTask ?? 1);
}
