import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.js';
import {
  describeArgv,
  envPrefix,
  quoteShellArg,
  quoteShellCommand,
  remoteCommandLine,
} from './shell-quote.js';

const NASTY = [
  'plain',
  '',
  ' ',
  'a b',
  "it's",
  "''",
  "'\\''",
  '"double"',
  '; rm -rf /tmp/should-not-exist',
  '$(touch /tmp/hpcj-quote-pwned)',
  '`id`',
  '${HOME}',
  '$HOME',
  'a\nb',
  '\n',
  'tab\there',
  'back\\slash',
  '*',
  '?',
  '[a-z]',
  '~',
  '~root',
  '-n',
  '--',
  'A=B',
  '#comment',
  'x;y|z&w>v<u',
  '!history',
  'ünïcødé ✓ 日本語 🚀',
  '\u0001\u007f',
];

/** Runs the quoted line through a real shell and returns the argv it received. */
function roundTrip(shell: string, argv: readonly string[]): string[] {
  const line = quoteShellCommand(['printf', '%s\\0', ...argv]);
  const out = execFileSync(shell, ['-c', line]);
  const parts = out.toString('utf8').split('\0');
  parts.pop();
  return parts;
}

const shells = ['/bin/sh', '/bin/bash', '/bin/dash'].filter((s) => existsSync(s));

describe('quoteShellCommand through a real shell', () => {
  for (const shell of shells) {
    it(`delivers every nasty argument intact to ${shell}`, () => {
      expect(roundTrip(shell, NASTY)).toEqual(NASTY);
      expect(existsSync('/tmp/hpcj-quote-pwned')).toBe(false);
    });

    it(`delivers each argument alone intact to ${shell}`, () => {
      for (const arg of NASTY) expect(roundTrip(shell, [arg])).toEqual([arg]);
    });
  }

  it('keeps the env prefix values intact', () => {
    const line = remoteCommandLine(['sh', '-c', 'printf "%s\\0" "$A" "$B_2"'], {
      A: "x'; echo pwned; '",
      B_2: '$(id)\n`id`',
    });
    const out = execFileSync('/bin/sh', ['-c', line]).toString('utf8').split('\0');
    expect(out.slice(0, 2)).toEqual(["x'; echo pwned; '", '$(id)\n`id`']);
  });
});

describe('quoteShellArg', () => {
  it('leaves plain words readable and quotes everything else', () => {
    expect(quoteShellArg('squeue')).toBe('squeue');
    expect(quoteShellArg('/a/b-c_d.e')).toBe('/a/b-c_d.e');
    expect(quoteShellArg('')).toBe("''");
    expect(quoteShellArg('a b')).toBe("'a b'");
    expect(quoteShellArg("it's")).toBe("'it'\\''s'");
    // A leading NAME=value word must never become an assignment.
    expect(quoteShellArg('A=B')).toBe("'A=B'");
  });

  it('refuses NUL, which no argv can carry', () => {
    expect(() => quoteShellArg('a\0b')).toThrow(InvalidInputError);
  });
});

describe('envPrefix and remoteCommandLine', () => {
  it('builds env NAME=VALUE words', () => {
    expect(envPrefix({ A: '1', B_C: 'x y' })).toEqual(['env', 'A=1', 'B_C=x y']);
    expect(envPrefix({})).toEqual([]);
    expect(envPrefix(undefined)).toEqual([]);
  });

  it('rejects invalid variable names', () => {
    for (const bad of ['', '1A', 'A-B', 'A=B', '-i', 'A B', 'Ä']) {
      expect(() => envPrefix({ [bad]: 'x' })).toThrow(InvalidInputError);
    }
  });

  it('rejects an empty argv and a command name with = under env', () => {
    expect(() => remoteCommandLine([])).toThrow(InvalidInputError);
    expect(() => remoteCommandLine(['A=B', 'x'], { C: '1' })).toThrow(InvalidInputError);
    expect(remoteCommandLine(['echo', 'hi'], { C: '1' })).toBe("env 'C=1' echo hi");
  });

  it('describes long argv shortened', () => {
    expect(describeArgv(['echo', 'x'.repeat(500)]).length).toBe(200);
    expect(describeArgv(['ls', 'a b'])).toBe("ls 'a b'");
  });
});
