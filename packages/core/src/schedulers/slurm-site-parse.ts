/**
 * Pure parsers for what a site offers: partitions from sinfo, and the accounts, QOS and default
 * account of a user from sacctmgr. They feed the launch forms' dynamic options.
 */

import { FIELD_SEPARATOR, SINFO_FIELDS } from './slurm-commands.js';
import { parseSlurmDuration } from './slurm-time.js';
import type { PartitionInfo } from './types.js';

interface MutablePartition {
  name: string;
  isDefault: boolean;
  available: boolean;
  totalNodes?: number;
  cpusPerNode?: number;
  memoryMiBPerNode?: number;
  maxNodes?: number;
  maxWalltimeMinutes?: number;
  defaultWalltimeMinutes?: number;
  gpusPerNode?: number;
}

/**
 * Partitions in sinfo's order. Sinfo prints one line per partition and node configuration, so a
 * partition of mixed nodes spans several lines: node counts add up, and CPUs, memory and GPUs per
 * node are the largest of any node, since that is the most a job can get on one node and what a
 * form should allow. Lines with too few fields are skipped.
 */
export function parseSinfo(stdout: string): PartitionInfo[] {
  const byName = new Map<string, MutablePartition>();
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const parts = line.split(FIELD_SEPARATOR);
    if (parts.length < SINFO_FIELDS.length) continue;
    const f = [
      ...parts.slice(0, SINFO_FIELDS.length - 1).map((p) => p.trim()),
      parts
        .slice(SINFO_FIELDS.length - 1)
        .join(FIELD_SEPARATOR)
        .trim(),
    ];
    const [
      rawName = '',
      avail = '',
      nodes = '',
      cpus = '',
      memory = '',
      maxTime = '',
      defTime = '',
    ] = f;
    const isDefault = rawName.endsWith('*');
    const name = isDefault ? rawName.slice(0, -1) : rawName;
    if (name === '') continue;
    let partition = byName.get(name);
    if (partition === undefined) {
      partition = {
        name,
        isDefault,
        // sinfo prints "up", "down", "drain" or "inact"; only "up" accepts and starts jobs.
        available: avail.toLowerCase() === 'up',
        maxWalltimeMinutes: parseSlurmDuration(maxTime),
        defaultWalltimeMinutes: parseSlurmDuration(defTime),
        maxNodes: parseMaxNodes(f[7] ?? ''),
      };
      byName.set(name, partition);
    }
    partition.totalNodes = sum(partition.totalNodes, leadingInt(nodes));
    partition.cpusPerNode = max(partition.cpusPerNode, leadingInt(cpus));
    partition.memoryMiBPerNode = max(partition.memoryMiBPerNode, leadingInt(memory));
    partition.gpusPerNode = max(partition.gpusPerNode, parseGpus(f[8] ?? ''));
  }
  return [...byName.values()].map(
    (p) =>
      Object.fromEntries(
        Object.entries(p).filter(([, v]) => v !== undefined),
      ) as unknown as PartitionInfo,
  );
}

/** sinfo %s: "1-infinite" -> undefined (no limit), "1-4" -> 4, "8" -> 8. */
export function parseMaxNodes(text: string): number | undefined {
  const max = text.trim().split('-').at(-1) ?? '';
  return /^\d+$/.test(max) ? Number(max) : undefined;
}

/**
 * GPUs per node from a gres string: "gpu:4", "gpu:a100:2(S:0-1),gpu:v100:1", "(null)". Counts of
 * every gpu entry add up; other gres (mps, shard) are ignored.
 */
export function parseGpus(gres: string): number | undefined {
  const value = gres.trim();
  if (value === '' || value === '(null)') return undefined;
  let total = 0;
  let found = false;
  for (const item of splitOutsideParens(value)) {
    const fields = item.replace(/\(.*\)$/, '').split(':');
    if (fields[0] !== 'gpu') continue;
    found = true;
    const count = fields.length > 1 ? (fields.at(-1) ?? '') : '1';
    total += /^\d+$/.test(count) ? Number(count) : 1;
  }
  return found ? total : undefined;
}

function splitOutsideParens(text: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth += 1;
    if (ch === ')') depth = Math.max(0, depth - 1);
    if (ch === ',' && depth === 0) {
      items.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  items.push(current);
  return items.map((i) => i.trim()).filter((i) => i !== '');
}

/**
 * `sacctmgr -nP show assoc format=Account,Partition,QOS`: one line per association. Accounts and
 * QOS (comma-separated in the last column) in first-seen order, without duplicates.
 */
export function parseSacctmgrAssociations(stdout: string): { accounts: string[]; qos: string[] } {
  const accounts = new Set<string>();
  const qos = new Set<string>();
  for (const raw of stdout.split('\n')) {
    const line = raw.trim();
    if (line === '') continue;
    const [account = '', , qosList = ''] = line.split('|');
    if (account.trim() !== '') accounts.add(account.trim());
    for (const q of qosList.split(',')) if (q.trim() !== '') qos.add(q.trim());
  }
  return { accounts: [...accounts], qos: [...qos] };
}

/** `sacctmgr -nP show user NAME format=DefaultAccount`: the first non-empty line. */
export function parseSacctmgrDefaultAccount(stdout: string): string | undefined {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '');
  return line === undefined || line === '' ? undefined : line;
}

function leadingInt(text: string): number | undefined {
  const match = /^(\d+)/.exec(text.trim());
  return match === null ? undefined : Number(match[1]);
}

function sum(a: number | undefined, b: number | undefined): number | undefined {
  return b === undefined ? a : (a ?? 0) + b;
}

function max(a: number | undefined, b: number | undefined): number | undefined {
  if (b === undefined) return a;
  return a === undefined ? b : Math.max(a, b);
}
