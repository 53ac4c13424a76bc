import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { FIELD_SEPARATOR, sacctArgv, sbatchArgv, sinfoArgv, squeueArgv } from './slurm-commands.js';

/**
 * The recorded outputs the parser tests read must come from exactly the command lines the adapter
 * runs; this pins them together, so changing a format string without re-recording fails here.
 */
const FIXTURE_DIR = fileURLToPath(new URL('../../test/fixtures/slurm/adapter/', import.meta.url));

interface Recording {
  readonly argv: string[];
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function load(name: string): Recording {
  return JSON.parse(readFileSync(`${FIXTURE_DIR}${name}.json`, 'utf8')) as Recording;
}

/** Drops the `SLURM_CONF=...` (and a then empty `env`) some recordings used to simulate a broken site. */
function withoutConf(argv: readonly string[]): string[] {
  const rest = argv.filter((a) => !a.startsWith('SLURM_CONF='));
  return rest[0] === 'env' && rest[1]?.includes('=') !== true ? rest.slice(1) : rest;
}

describe('recorded Slurm outputs', () => {
  const names = readdirSync(FIXTURE_DIR)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length));

  it('are all there', () => {
    expect(names.length).toBeGreaterThan(20);
  });

  it.each(names.filter((n) => n.startsWith('squeue-')))('%s ran the adapter squeue', (name) => {
    expect(withoutConf(load(name).argv)).toEqual(squeueArgv('hpcjtest'));
  });

  it.each(names.filter((n) => n.startsWith('sacct-')))('%s ran the adapter sacct', (name) => {
    const { argv } = load(name);
    const ids = argv.find((a) => a.startsWith('--jobs='))?.slice('--jobs='.length) ?? '';
    expect(withoutConf(argv)).toEqual(sacctArgv(ids.split(',')));
  });

  it.each(names.filter((n) => n.startsWith('sinfo')))('%s ran the adapter sinfo', (name) => {
    expect(withoutConf(load(name).argv)).toEqual(sinfoArgv());
  });

  it.each(names.filter((n) => n.startsWith('sbatch-')))('%s ran the adapter sbatch', (name) => {
    expect(withoutConf(load(name).argv)).toEqual(sbatchArgv());
  });

  it('recorded fields with the unit separator', () => {
    expect(load('sinfo').stdout).toContain(FIELD_SEPARATOR);
    expect(load('squeue-pending').stdout).toContain(FIELD_SEPARATOR);
  });
});
