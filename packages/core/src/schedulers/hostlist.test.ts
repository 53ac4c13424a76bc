import { describe, expect, it } from 'vitest';

import { InvalidInputError } from '../errors.js';
import { MAX_HOSTLIST_HOSTS, expandHostlist } from './hostlist.js';

describe('expandHostlist', () => {
  it('expands ranges and single numbers in a bracket, and plain names', () => {
    expect(expandHostlist('node[1-3,5],gpu01')).toEqual([
      'node1',
      'node2',
      'node3',
      'node5',
      'gpu01',
    ]);
  });

  it('reads what the test cluster prints for its nodes', () => {
    // From squeue-suspended-requeued.json: a job on all four nodes of the test cluster.
    expect(expandHostlist('node[1-4]')).toEqual(['node1', 'node2', 'node3', 'node4']);
    expect(expandHostlist('node2')).toEqual(['node2']);
  });

  it('pads to the width of a zero-padded low bound, and not otherwise', () => {
    expect(expandHostlist('n[08-11]')).toEqual(['n08', 'n09', 'n10', 'n11']);
    expect(expandHostlist('n[8-11]')).toEqual(['n8', 'n9', 'n10', 'n11']);
    expect(expandHostlist('n[001-002,010]')).toEqual(['n001', 'n002', 'n010']);
  });

  it('keeps text after a bracket and multiplies several brackets out', () => {
    expect(expandHostlist('node[1-2]-ib')).toEqual(['node1-ib', 'node2-ib']);
    expect(expandHostlist('r[1-2]n[1-2]')).toEqual(['r1n1', 'r1n2', 'r2n1', 'r2n2']);
  });

  it('accepts whitespace between entries and ignores empty ones', () => {
    expect(expandHostlist(' a1  b[2-3],,c ')).toEqual(['a1', 'b2', 'b3', 'c']);
    expect(expandHostlist('')).toEqual([]);
  });

  it.each([
    ['node[3-1]', 'backwards'],
    ['node[1-', 'unclosed'],
    ['node]1[', 'without'],
    ['node[[1]]', 'nested'],
    ['node[a-b]', 'not N or N-M'],
    ['node[1-2', 'unclosed'],
    ['node[]', 'not N or N-M'],
  ])('refuses the malformed %s', (text, words) => {
    expect(() => expandHostlist(text)).toThrow(InvalidInputError);
    expect(() => expandHostlist(text)).toThrow(words);
  });

  it('refuses expansions too large to be an allocation', () => {
    expect(() => expandHostlist('n[1-999999999]')).toThrow(/too large/);
    expect(() => expandHostlist(`a[1-${MAX_HOSTLIST_HOSTS}],b[1-2]`)).toThrow(
      /more than 100000 hosts/,
    );
    expect(() => expandHostlist('a[1-400]b[1-400]')).toThrow(/more than/);
  });
});
