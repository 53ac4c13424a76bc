import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

/**
 * The hand-written samples of the batch systems that cannot run here: every sample is complete
 * (stdout, stderr, code), its code is an exit status or `timeout`, and its folder's README lists
 * it, so a sample nobody documented cannot creep in.
 */
const ROOT = fileURLToPath(new URL('../../test/fixtures/', import.meta.url));
const DIRS = ['pbspro-2022.1', 'torque-6.1', 'lsf-10.1', 'htcondor-23.0'];

describe.each(DIRS)('recorded-format samples in %s', (dir) => {
  const files = readdirSync(`${ROOT}${dir}`);
  const names = [
    ...new Set(
      files.filter((f) => f !== 'README.md').map((f) => f.replace(/\.(stdout|stderr|code)$/, '')),
    ),
  ];
  const readme = readFileSync(`${ROOT}${dir}/README.md`, 'utf8');

  it('has samples and a README that says they are written, not captured', () => {
    expect(names.length).toBeGreaterThan(8);
    expect(readme).toMatch(/written by hand in the tool's exact format/);
  });

  it.each(names)('%s is complete, documented and has a readable code', (name) => {
    for (const ext of ['stdout', 'stderr', 'code']) expect(files).toContain(`${name}.${ext}`);
    expect(readFileSync(`${ROOT}${dir}/${name}.code`, 'utf8').trim()).toMatch(/^(\d+|timeout)$/);
    expect(readme).toMatch(new RegExp(`\\b${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`));
  });
});
