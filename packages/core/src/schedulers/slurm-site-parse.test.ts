import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { FIELD_SEPARATOR as US } from './slurm-commands.js';
import {
  parseGpus,
  parseMaxNodes,
  parseSacctmgrAssociations,
  parseSacctmgrDefaultAccount,
  parseSinfo,
} from './slurm-site-parse.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../test/fixtures/slurm/adapter/', import.meta.url));

function recorded(name: string): { stdout: string; stderr: string; code: number } {
  return JSON.parse(readFileSync(`${FIXTURE_DIR}${name}.json`, 'utf8')) as {
    stdout: string;
    stderr: string;
    code: number;
  };
}

describe('parseSinfo', () => {
  it('reads the test cluster partitions', () => {
    expect(parseSinfo(recorded('sinfo').stdout)).toEqual([
      {
        name: 'debug',
        isDefault: true,
        available: true,
        totalNodes: 4,
        cpusPerNode: 2,
        memoryMiBPerNode: 1000,
        maxNodes: 4,
      },
      {
        name: 'short',
        isDefault: false,
        available: true,
        totalNodes: 2,
        cpusPerNode: 2,
        memoryMiBPerNode: 1000,
        maxWalltimeMinutes: 30,
      },
    ]);
  });

  it('adds up nodes and takes the largest node of a mixed partition', () => {
    const lines = [
      ['gpu', 'up', '4', '32', '192000', '2-00:00:00', '1:00:00', '1-8', 'gpu:a100:4(S:0-1)'],
      ['gpu', 'up', '2', '64', '512000+', '2-00:00:00', '1:00:00', '1-8', 'gpu:a100:8(S:0,1)'],
      ['cpu*', 'drain', '10', '16', '64000', 'infinite', 'n/a', '1-infinite', '(null)'],
    ].map((f) => f.join(US));
    expect(parseSinfo(`${lines.join('\n')}\n`)).toEqual([
      {
        name: 'gpu',
        isDefault: false,
        available: true,
        totalNodes: 6,
        cpusPerNode: 64,
        memoryMiBPerNode: 512000,
        maxNodes: 8,
        maxWalltimeMinutes: 2880,
        defaultWalltimeMinutes: 60,
        gpusPerNode: 8,
      },
      {
        name: 'cpu',
        isDefault: true,
        available: false,
        totalNodes: 10,
        cpusPerNode: 16,
        memoryMiBPerNode: 64000,
      },
    ]);
  });

  it('skips a truncated last line and reads empty output as no partitions', () => {
    const real = recorded('sinfo').stdout;
    expect(parseSinfo(real.slice(0, real.length - 30)).map((p) => p.name)).toEqual(['debug']);
    expect(parseSinfo('')).toEqual([]);
  });

  it('reads the small fields', () => {
    expect(parseMaxNodes('1-infinite')).toBeUndefined();
    expect(parseMaxNodes('1-4')).toBe(4);
    expect(parseMaxNodes('8')).toBe(8);
    expect(parseGpus('(null)')).toBeUndefined();
    expect(parseGpus('gpu:4')).toBe(4);
    expect(parseGpus('gpu:a100:2(S:0-1),gpu:v100:1')).toBe(3);
    expect(parseGpus('mps:100,gpu:tesla:2(S:0,2)')).toBe(2);
    expect(parseGpus('mps:100')).toBeUndefined();
  });
});

describe('sacctmgr parsers', () => {
  it('reads accounts and QOS of the test user', () => {
    expect(parseSacctmgrAssociations(recorded('sacctmgr-assoc').stdout)).toEqual({
      accounts: ['research', 'teaching'],
      qos: ['debug', 'normal'],
    });
    expect(parseSacctmgrDefaultAccount(recorded('sacctmgr-user').stdout)).toBe('research');
  });

  it('reads empty output as nothing', () => {
    expect(parseSacctmgrAssociations('')).toEqual({ accounts: [], qos: [] });
    expect(parseSacctmgrDefaultAccount('\n')).toBeUndefined();
    expect(parseSacctmgrAssociations('proj|gpu|\n')).toEqual({ accounts: ['proj'], qos: [] });
  });
});
