/** `hpc-jupyter setup`'s command line and its account of what changed. */
import { describe, expect, it } from 'vitest';
import { InvalidInputError } from '../errors.js';
import type { ProbeResult } from '../setup/probe.js';
import { describeChanges, parseSetupArgs } from './setup-command.js';

describe('parseSetupArgs', () => {
  it('reads the report form and both ways of giving the venv path', () => {
    expect(parseSetupArgs(['--cluster', 'hpc', '--json'])).toEqual({
      cluster: 'hpc',
      json: true,
      createVenv: false,
    });
    expect(parseSetupArgs(['-c', 'hpc', '--create-venv'])).toMatchObject({ createVenv: true });
    expect(parseSetupArgs(['-c', 'hpc', '--create-venv', '~/v', '--wheelhouse', 'W'])).toEqual({
      cluster: 'hpc',
      json: false,
      createVenv: true,
      path: '~/v',
      wheelhouse: 'W',
    });
    expect(
      parseSetupArgs(['-c', 'hpc', '--create-venv=/p/v', '--python', '/usr/bin/python3.12']),
    ).toMatchObject({ path: '/p/v', python: '/usr/bin/python3.12' });
    expect(
      parseSetupArgs(['-c', 'hpc', '--create-venv', '--index-url', 'https://pypi.site/simple']),
    ).toMatchObject({ indexUrl: 'https://pypi.site/simple' });
  });

  it('refuses what makes no sense, saying what to do', () => {
    expect(() => parseSetupArgs([])).toThrow(InvalidInputError);
    expect(() => parseSetupArgs(['-c', 'hpc', 'extra'])).toThrow(/Unexpected argument "extra"/);
    expect(() => parseSetupArgs(['-c', 'hpc', '--wheelhouse', 'W'])).toThrow(
      /--wheelhouse goes with --create-venv/,
    );
    expect(() => parseSetupArgs(['-c', 'hpc', '--create-venv', 'a', 'b'])).toThrow(/"b"/);
  });
});

describe('describeChanges', () => {
  const probe = {} as ProbeResult;
  it('says what it built and what it set, and "Nothing changed" when nothing did', () => {
    expect(
      describeChanges(
        '/h/v',
        { python: '/h/v/bin/python', built: true, installed: ['a', 'b'], probe },
        {
          file: '~/.config/hpc-jupyter/clusters.yaml',
          changed: true,
          before: 'python3',
          after: '/h/v/bin/python',
          copiedFrom: '/etc/hpc-jupyter/clusters.d/site.yaml',
        },
      ),
    ).toBe(
      'Built /h/v (the job wheel and 2 requirement(s)).\n' +
        'Set python in ~/.config/hpc-jupyter/clusters.yaml: python3 -> /h/v/bin/python ' +
        "(the cluster's definition copied from /etc/hpc-jupyter/clusters.d/site.yaml, which it now replaces).",
    );
    expect(
      describeChanges(
        '/h/v',
        { python: '/h/v/bin/python', built: false, installed: [], probe },
        { file: 'c.yaml', changed: false, before: '/h/v/bin/python', after: '/h/v/bin/python' },
      ),
    ).toBe(
      '/h/v already had everything: unchanged.\n' +
        'c.yaml already sets python to /h/v/bin/python: unchanged.\nNothing changed.',
    );
  });
});
