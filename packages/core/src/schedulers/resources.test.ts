import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.js';
import { describeChar, validateResources } from './resources.js';
import type { ResourceRequest } from './types.js';

const full: ResourceRequest = {
  name: 'hpcj-jupyter-1',
  nodes: 4,
  tasksPerNode: 2,
  cpusPerTask: 8,
  memoryMiB: 16_000,
  gpusPerNode: 1,
  walltimeMinutes: 90,
  partition: 'gpu-a100.v2+x',
  account: 'proj_123',
  qos: 'normal',
  mailOnStart: 'ada.lovelace+hpc@example.org',
  workdir: '/home/ada/my dir #1',
  output: '/scratch/ada/hpcj/out-%j.log',
};

function message(req: ResourceRequest): string {
  try {
    validateResources(req);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidInputError);
    return (error as InvalidInputError).message;
  }
  throw new Error(`accepted ${JSON.stringify(req)}`);
}

describe('validateResources', () => {
  it('accepts a full, sane request and a name-only one', () => {
    expect(() => {
      validateResources(full);
    }).not.toThrow();
    expect(() => {
      validateResources({ name: 'x' });
    }).not.toThrow();
  });

  it('accepts unicode letters in job names, as Slurm does', () => {
    expect(() => {
      validateResources({ name: 'hpcj-Ωmega-日本語' });
    }).not.toThrow();
  });

  it('names the field, the problem and what is allowed', () => {
    expect(message({ name: 'x', partition: 'debug;rm -rf ~' })).toBe(
      'partition "debug;rm -rf ~" contains \';\': a partition name may only contain letters, ' +
        'digits and _ . + -, and must start with a letter or digit',
    );
    expect(message({ name: 'x', account: 'acct\nevil' })).toMatch(
      /^account "acct\\nevil" contains a newline: /,
    );
    expect(message({ name: 'x', qos: '_low' })).toMatch(/^QOS "_low" starts with '_'/);
    expect(message({ name: 'x', partition: '' })).toMatch(/^partition is empty/);
  });

  it.each(Array.from(';&|$`\'"<>(){}*?[]!~#\\'))('refuses %j in a job name', (ch) => {
    expect(message({ name: `job${ch}x` })).toContain(`contains '${ch}'`);
  });

  it.each([
    ['a space', 'my job'],
    ['a newline', 'job\nx'],
    ['a tab', 'job\tx'],
    ['a NUL byte', 'job\0x'],
    ['a control or format character (U+200B)', 'job\u200bx'],
    ['a control or format character (U+202E)', 'job\u202ex'],
  ])('refuses %s in a job name', (what, name) => {
    expect(message({ name })).toContain(`contains ${what}`);
  });

  it('refuses names that are empty, too long or do not start with a letter or digit', () => {
    expect(message({ name: '' })).toMatch(/job name is missing/);
    expect(message({ name: '-rf' })).toMatch(/does not start with a letter or digit/);
    expect(message({ name: '.hidden' })).toMatch(/does not start/);
    expect(message({ name: 'a'.repeat(201) })).toMatch(/201 characters long/);
    // Length counts characters, not UTF-16 units: 200 CJK characters are fine.
    expect(() => {
      validateResources({ name: '語'.repeat(200) });
    }).not.toThrow();
  });

  it.each([
    ['nodes', 0],
    ['nodes', 1.5],
    ['nodes', -1],
    ['nodes', Number.NaN],
    ['nodes', 100_001],
    ['tasksPerNode', 0],
    ['cpusPerTask', Infinity],
    ['memoryMiB', 0],
    ['memoryMiB', 0.5],
    ['gpusPerNode', -1],
    ['walltimeMinutes', 0],
    ['walltimeMinutes', 10 * 366 * 24 * 60 + 1],
  ] as const)('refuses %s = %s', (field, value) => {
    expect(message({ name: 'x', [field]: value })).toMatch(
      new RegExp(`^${field} .* is not allowed: ${field} must be a whole number from \\d+ to \\d+$`),
    );
  });

  it('refuses numbers given as strings (values from untyped JSON)', () => {
    const req = { name: 'x', nodes: '4' } as unknown as ResourceRequest;
    expect(message(req)).toBe(
      'nodes "4" is not allowed: nodes must be a whole number from 1 to 100000',
    );
  });

  it('takes 0 GPUs as "none"', () => {
    expect(() => {
      validateResources({ name: 'x', gpusPerNode: 0 });
    }).not.toThrow();
  });

  it.each([
    'nobody',
    'a@b@c',
    'ada@',
    '@example.org',
    'ada @example.org',
    'a#b@example.org',
    'a@-x.org',
  ])('refuses the e-mail address %j', (mail) => {
    expect(message({ name: 'x', mailOnStart: mail })).toMatch(/not a plausible e-mail address/);
  });

  it('accepts plausible e-mail addresses', () => {
    for (const mail of ['a@b', 'first.last@sub.example.org', 'x_y%z+tag@host-1.example']) {
      expect(() => {
        validateResources({ name: 'x', mailOnStart: mail });
      }).not.toThrow();
    }
  });

  it('wants absolute paths without control characters', () => {
    expect(message({ name: 'x', workdir: 'relative/dir' })).toMatch(
      /^workdir "relative\/dir" is not absolute/,
    );
    expect(message({ name: 'x', output: '/tmp/a\nb' })).toMatch(
      /^output "\/tmp\/a\\nb" contains a newline/,
    );
    expect(message({ name: 'x', output: '/tmp/a\0b' })).toMatch(/contains a NUL byte/);
    expect(message({ name: 'x', workdir: '' })).toMatch(/^workdir is empty/);
    expect(message({ name: 'x', workdir: `/${'d'.repeat(4096)}` })).toMatch(/4097 characters long/);
  });
});

describe('describeChar', () => {
  it('names invisible characters and quotes visible ones', () => {
    expect(describeChar(';')).toBe("';'");
    expect(describeChar('\n')).toBe('a newline');
    expect(describeChar('\u0007')).toBe('a control or format character (U+0007)');
    expect(describeChar('\u00a0')).toBe('a space character (U+00A0)');
  });
});
