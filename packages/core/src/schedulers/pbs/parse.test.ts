import { describe, expect, it } from 'vitest';

import { capture } from '../fixture-runner.testutil.js';
import {
  execHosts,
  findRecord,
  parseQstatJson,
  parseQstatXml,
  parseQsub,
  pbsDate,
  sequenceOf,
  unknownJobIds,
} from './parse.js';
import { memoryMiB, parseNodes } from './site-parse.js';
import { parseXml } from './xml.js';

const stdout = (dir: string, name: string): string => {
  const reply = capture(dir, name);
  if (reply instanceof Error) throw reply;
  return reply.stdout;
};

describe('PBS parsers', () => {
  it('reads every job of a recorded PBS Pro qstat, keeping names exactly', () => {
    const records = parseQstatJson(stdout('pbspro-2022.1', 'qstat-jobs'));
    expect(records).toHaveLength(10);
    expect(records[0]).toMatchObject({
      id: '1040.pbs-head',
      state: 'R',
      name: 'hpcj-jupyter-ünïcødé-✓',
      owner: 'hpcjtest@login1',
      walltimeMinutes: 60,
    });
    expect(findRecord(records, '1035[].pbs-head')).toMatchObject({ state: 'B' });
    expect(findRecord(records, '1033')?.end).toEqual(new Date(Date.UTC(2026, 11, 7, 15, 51, 30)));
  });

  it('reads Torque XML with entities and empty elements', () => {
    const records = parseQstatXml(stdout('torque-6.1', 'qstat-jobs'));
    expect(records).toHaveLength(8);
    expect(records[1]).toMatchObject({ name: 'hpcj-q & <x>', state: 'Q' });
    expect(records[1]?.comment).toBeUndefined();
    expect(records[3]).toMatchObject({ exitStatus: -11 });
  });

  it('refuses XML that does not nest, and JSON cut short', () => {
    expect(() => parseXml('<Data><Job></Data>')).toThrow(/closes <Job>/);
    expect(() => parseXml('<Data>')).toThrow(/never closed/);
    expect(() => parseQstatJson(stdout('pbspro-2022.1', 'qstat-garbled'))).toThrow(
      /could not be read/,
    );
    expect(parseQstatJson('')).toEqual([]);
    expect(parseXml('<a>&#x2713;&#65;&amp;amp;</a>').children[0]?.text).toBe('✓A&amp;');
  });

  it('reads qsub ids, unknown-id lines, dates, hosts and sizes', () => {
    expect(parseQsub('1042.pbs-head\n')).toBe('1042.pbs-head');
    expect(parseQsub('1042[].pbs-head')).toBe('1042[].pbs-head');
    expect(parseQsub('qsub: would you like\n')).toBeUndefined();
    expect(unknownJobIds('qstat: Unknown Job Id 9.a\nqstat: Unknown Job Id Error 10.b\n')).toEqual([
      '9.a',
      '10.b',
    ]);
    expect(sequenceOf('1035[].pbs-head')).toBe('1035[]');
    expect(pbsDate('Mon Dec  7 15:51:36 2026')).toEqual(
      new Date(Date.UTC(2026, 11, 7, 15, 51, 36)),
    );
    expect(pbsDate('Mon Feb 30 15:51:36 2026')).toBeUndefined();
    expect(pbsDate('')).toBeUndefined();
    expect(execHosts('node1/0*4+node2/0*4+node1/5')).toEqual(['node1', 'node2']);
    expect(execHosts('')).toBeUndefined();
    expect(memoryMiB('16229124kb')).toBe(15848);
    expect(memoryMiB('64gb')).toBe(65536);
    expect(memoryMiB('lots')).toBeUndefined();
  });

  it('reads nodes of both flavours with their state', () => {
    expect(
      parseNodes('pbspro', stdout('pbspro-2022.1', 'pbsnodes')).map((n) => [
        n.name,
        n.up,
        n.cpus,
        n.gpus,
      ]),
    ).toEqual([
      ['node1', true, 16, undefined],
      ['node2', true, 16, undefined],
      ['node3', false, 32, undefined],
      ['gnode1', true, 48, 4],
    ]);
    expect(
      parseNodes('torque', stdout('torque-6.1', 'pbsnodes')).map((n) => [
        n.name,
        n.up,
        n.memoryMiB,
      ]),
    ).toEqual([
      ['tnode1', true, 32000],
      ['tnode2', true, 32000],
      ['tnode3', false, 32000],
      ['tgpu1', true, 128000],
    ]);
  });
});
