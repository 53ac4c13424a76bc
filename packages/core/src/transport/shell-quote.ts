/**
 * Turns an argv array into one command line for a POSIX shell, the only form an SSH `exec`
 * request carries. Every element is single-quoted, so no value (`;`, `$()`, backticks, newlines,
 * globs) is ever interpreted by the remote shell. Pure functions, no I/O.
 *
 * The remote login shell must be POSIX-like (sh, bash, dash, ksh, zsh): csh and tcsh treat
 * newlines inside single quotes differently.
 */

import { InvalidInputError } from '../errors.js';

// No `=`: an unquoted leading `NAME=value` word would become an assignment, not a command.
const SAFE = /^[A-Za-z0-9_@%+:,./-]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * Quotes one argument. Plain words stay as they are (easier to read in logs); everything else is
 * wrapped in single quotes, inside which a shell interprets nothing, and each embedded `'` becomes
 * `'\''` (close the quote, an escaped quote, reopen).
 */
export function quoteShellArg(arg: string): string {
  if (arg.includes('\0')) {
    // No shell and no exec() can carry a NUL inside an argument: refuse rather than truncate.
    throw new InvalidInputError('A command argument contains a NUL character.', {
      hint: 'Pass binary data through stdin or a file instead of the command line.',
    });
  }
  if (arg === '') return "''";
  if (SAFE.test(arg)) return arg;
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

/** Quotes every element and joins them with spaces. */
export function quoteShellCommand(argv: readonly string[]): string {
  if (argv.length === 0) {
    throw new InvalidInputError('Cannot run an empty command (argv has no elements).');
  }
  return argv.map(quoteShellArg).join(' ');
}

/**
 * The argv prefix that sets environment variables for one command: `env NAME=VALUE ...`. `env`
 * reads assignments up to the first word without `=`, so names are validated: a name with `=` or
 * a leading `-` could otherwise shift where the real command starts.
 */
export function envPrefix(env: Readonly<Record<string, string>> | undefined): string[] {
  if (env === undefined) return [];
  const names = Object.keys(env);
  if (names.length === 0) return [];
  const words = ['env'];
  for (const name of names) {
    if (!ENV_NAME.test(name)) {
      throw new InvalidInputError(
        `Invalid environment variable name ${JSON.stringify(name)}: names must match [A-Za-z_][A-Za-z0-9_]*.`,
      );
    }
    words.push(`${name}=${env[name] ?? ''}`);
  }
  return words;
}

/** The full remote command line for `argv` with optional extra environment. */
export function remoteCommandLine(
  argv: readonly string[],
  env?: Readonly<Record<string, string>>,
): string {
  if (argv.length === 0) {
    throw new InvalidInputError('Cannot run an empty command (argv has no elements).');
  }
  const prefix = envPrefix(env);
  if (prefix.length > 0 && argv[0]?.includes('=') === true) {
    // `env` would read such a word as one more assignment and run the next word instead.
    throw new InvalidInputError(
      `Cannot run ${JSON.stringify(argv[0])} with extra environment: a command name must not contain "=".`,
    );
  }
  return quoteShellCommand([...prefix, ...argv]);
}

/** A short, quoted rendering of argv for error messages. */
export function describeArgv(argv: readonly string[], max = 200): string {
  let text: string;
  try {
    text = argv.map(quoteShellArg).join(' ');
  } catch {
    text = JSON.stringify(argv);
  }
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
