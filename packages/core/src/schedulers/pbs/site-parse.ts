/**
 * Pure parsers for what a PBS site offers the launch form: queues with their limits, the default
 * queue, and nodes' CPUs, memory and GPUs. PBS Pro prints JSON (`-F json`); Torque prints
 * `attr = value` blocks for queues and the server, and XML for pbsnodes.
 */

import { dropUndefined } from '../batch-commands.js';
import { parseHms } from '../directive-checks.js';
import type { PartitionInfo } from '../types.js';
import type { PbsFlavor } from './commands.js';
import { child, childText, parseXml } from './xml.js';

interface QueueRecord {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
}

export interface NodeRecord {
  readonly name: string;
  readonly up: boolean;
  readonly cpus?: number;
  readonly memoryMiB?: number;
  readonly gpus?: number;
  readonly queue?: string;
}

/** Queue (or server) attributes as flat "a.b" keys, from either flavour's output. */
export function parseQueueAttrs(
  flavor: PbsFlavor,
  stdout: string,
  section: 'Queue' | 'Server',
): QueueRecord[] {
  if (flavor === 'pbspro') {
    if (stdout.trim() === '') return [];
    const doc = JSON.parse(stdout) as Record<string, unknown>;
    const entries = (doc[section] ?? {}) as Record<string, Record<string, unknown>>;
    return Object.entries(entries).map(([name, attrs]) => ({ name, attrs: flatten(attrs) }));
  }
  // Torque: "Queue: batch" (or "Server: host") then indented "key = value" lines.
  const records: { name: string; attrs: Record<string, string> }[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/\r$/, '');
    const head = new RegExp(`^${section}: (\\S+)`).exec(line);
    if (head?.[1] !== undefined) {
      records.push({ name: head[1], attrs: {} });
      continue;
    }
    const kv = /^\s+([\w.]+) = (.*)$/.exec(line);
    const current = records.at(-1);
    if (kv?.[1] !== undefined && current !== undefined) current.attrs[kv[1]] = (kv[2] ?? '').trim();
  }
  return records;
}

/** The server's default_queue, from `qstat -B -f`. */
export function parseDefaultQueue(flavor: PbsFlavor, stdout: string): string | undefined {
  return parseQueueAttrs(flavor, stdout, 'Server')[0]?.attrs['default_queue'];
}

export function parseNodes(flavor: PbsFlavor, stdout: string): NodeRecord[] {
  if (stdout.trim() === '') return [];
  if (flavor === 'pbspro') {
    const doc = JSON.parse(stdout) as Record<string, unknown>;
    const nodes = (doc['nodes'] ?? {}) as Record<string, Record<string, unknown>>;
    return Object.entries(nodes).map(([name, n]) => {
      const available = (n['resources_available'] ?? {}) as Record<string, unknown>;
      const state = typeof n['state'] === 'string' ? n['state'] : '';
      return dropUndefined({
        name,
        up: !/down|offline|unknown|stale/.test(state),
        cpus: num(available['ncpus']),
        memoryMiB: memoryMiB(typeof available['mem'] === 'string' ? available['mem'] : ''),
        gpus: num(available['ngpus']),
        queue: typeof n['queue'] === 'string' ? n['queue'] : undefined,
      });
    });
  }
  const data = child(parseXml(stdout), 'Data');
  return (data?.children ?? [])
    .filter((c) => c.name === 'Node')
    .map((n) => {
      const status = Object.fromEntries(
        (childText(n, 'status') ?? '').split(',').map((kv) => {
          const at = kv.indexOf('=');
          return [kv.slice(0, at), kv.slice(at + 1)];
        }),
      ) as Record<string, string>;
      const state = childText(n, 'state') ?? '';
      return dropUndefined({
        name: childText(n, 'name') ?? '',
        up: !/down|offline|unknown/.test(state),
        cpus: num(childText(n, 'np')),
        memoryMiB: memoryMiB(status['physmem'] ?? ''),
        gpus: num(childText(n, 'gpus')),
      });
    })
    .filter((n) => n.name !== '');
}

/**
 * Execution queues as partitions. Routing queues are left out (jobs cannot run in them);
 * a queue is available when enabled and started. Node sizes are the largest of the nodes that
 * serve the queue (those whose `queue` attribute names it, else all nodes), as with Slurm.
 */
export function queuesToPartitions(
  queues: readonly QueueRecord[],
  nodes: readonly NodeRecord[],
  defaultQueue: string | undefined,
): PartitionInfo[] {
  return queues
    .filter((q) => (q.attrs['queue_type'] ?? 'Execution').toLowerCase().startsWith('e'))
    .map((q) => {
      const bound = nodes.filter((n) => n.queue === q.name);
      const serving = (
        bound.length > 0 ? bound : nodes.filter((n) => n.queue === undefined)
      ).filter((n) => n.up);
      const maxNodes = num(q.attrs['resources_max.nodect']) ?? num(q.attrs['resources_max.nodes']);
      return dropUndefined({
        name: q.name,
        isDefault: q.name === defaultQueue,
        available: q.attrs['enabled'] === 'True' && q.attrs['started'] === 'True',
        totalNodes: serving.length === 0 ? undefined : serving.length,
        cpusPerNode: maxOf(serving.map((n) => n.cpus)),
        memoryMiBPerNode: maxOf(serving.map((n) => n.memoryMiB)),
        gpusPerNode: maxOf(serving.map((n) => n.gpus)),
        maxNodes,
        maxWalltimeMinutes: parseHms(q.attrs['resources_max.walltime']),
        defaultWalltimeMinutes: parseHms(q.attrs['resources_default.walltime']),
      });
    });
}

/** PBS sizes ("16229124kb", "64gb", "512mb", a bare number of bytes) in MiB. */
export function memoryMiB(text: string): number | undefined {
  const m = /^(\d+)(b|kb|mb|gb|tb|w|kw|mw|gw)?$/i.exec(text.trim());
  if (m === null) return undefined;
  const unit = (m[2] ?? 'b').toLowerCase();
  const shift: Record<string, number> = { b: 0, kb: 10, mb: 20, gb: 30, tb: 40 };
  const bits = shift[unit];
  if (bits === undefined) return undefined;
  return Math.floor((Number(m[1]) * 2 ** bits) / 2 ** 20);
}

function flatten(attrs: Record<string, unknown>, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(attrs)) {
    if (typeof value === 'object' && value !== null)
      Object.assign(out, flatten(value as Record<string, unknown>, `${prefix}${key}.`));
    else out[`${prefix}${key}`] = String(value);
  }
  return out;
}

function num(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  return typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : undefined;
}

function maxOf(values: readonly (number | undefined)[]): number | undefined {
  const known = values.filter((v): v is number => v !== undefined);
  return known.length === 0 ? undefined : Math.max(...known);
}
