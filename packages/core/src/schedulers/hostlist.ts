/**
 * Slurm hostlist expressions ("node[01-03,7],gpu1") expanded to host names. Squeue and sacct
 * print allocations in this compressed form; sessions and tunnels need the plain names.
 */

import { InvalidInputError } from '../errors.js';

/**
 * Expansion stops here: a hostlist is never this large on a real allocation, and a garbled one
 * ("n[1-999999999]") must not exhaust memory.
 */
export const MAX_HOSTLIST_HOSTS = 100_000;

/**
 * Expands a Slurm hostlist into host names in the order written.
 *
 * Follows Slurm's hostlist rules: entries are separated by commas (or whitespace) outside
 * brackets; a bracket holds comma-separated numbers and lo-hi ranges; the width of `lo` sets
 * zero padding ("[08-10]" -> 08 09 10); several brackets in one entry multiply out
 * ("r[1-2]n[1-2]" -> r1n1 r1n2 r2n1 r2n2). Throws InvalidInputError on anything else.
 */
export function expandHostlist(hostlist: string): string[] {
  const hosts: string[] = [];
  for (const entry of splitTopLevel(hostlist)) {
    for (const host of expandEntry(entry)) {
      hosts.push(host);
      if (hosts.length > MAX_HOSTLIST_HOSTS) {
        throw new InvalidInputError(
          `hostlist ${JSON.stringify(truncate(hostlist))} expands to more than ${MAX_HOSTLIST_HOSTS} hosts`,
        );
      }
    }
  }
  return hosts;
}

/** Splits at commas and whitespace that are not inside brackets. */
function splitTopLevel(hostlist: string): string[] {
  const entries: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of hostlist) {
    if (ch === '[') {
      depth += 1;
      if (depth > 1) throw malformed(hostlist, 'nested "["');
    } else if (ch === ']') {
      depth -= 1;
      if (depth < 0) throw malformed(hostlist, 'a "]" without "["');
    }
    if (depth === 0 && (ch === ',' || /\s/.test(ch))) {
      if (current !== '') entries.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  if (depth !== 0) throw malformed(hostlist, 'an unclosed "["');
  if (current !== '') entries.push(current);
  return entries;
}

/** One entry: literal text and bracket groups, multiplied out left to right. */
function expandEntry(entry: string): string[] {
  let results = [''];
  const pattern = /([^[\]]*)(?:\[([^\]]*)\])?/gy;
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < entry.length && (match = pattern.exec(entry)) !== null) {
    if (match[0] === '') throw malformed(entry, 'a stray bracket');
    const literal = match[1] ?? '';
    const group = match[2];
    const suffixes = group === undefined ? [''] : expandRanges(group, entry);
    const next: string[] = [];
    for (const prefix of results) {
      for (const suffix of suffixes) {
        next.push(prefix + literal + suffix);
        if (next.length > MAX_HOSTLIST_HOSTS) {
          throw new InvalidInputError(
            `hostlist entry ${JSON.stringify(truncate(entry))} expands to more than ${MAX_HOSTLIST_HOSTS} hosts`,
          );
        }
      }
    }
    results = next;
  }
  return results;
}

/** The inside of one bracket: "1-3,07,10-12" -> ["1","2","3","07","10","11","12"]. */
function expandRanges(group: string, entry: string): string[] {
  const out: string[] = [];
  for (const part of group.split(',')) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (range === null) throw malformed(entry, `range ${JSON.stringify(part)} is not N or N-M`);
    const loText = range[1] ?? '';
    const hiText = range[2] ?? loText;
    const lo = Number(loText);
    const hi = Number(hiText);
    if (hi < lo) throw malformed(entry, `range ${JSON.stringify(part)} runs backwards`);
    if (hi - lo >= MAX_HOSTLIST_HOSTS) {
      throw malformed(entry, `range ${JSON.stringify(part)} is too large`);
    }
    // Slurm pads to the width of the low bound only when it is written with leading zeros.
    const width = loText.length;
    for (let n = lo; n <= hi; n += 1) out.push(String(n).padStart(width, '0'));
  }
  return out;
}

function malformed(text: string, what: string): InvalidInputError {
  return new InvalidInputError(`hostlist ${JSON.stringify(truncate(text))} has ${what}`);
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
