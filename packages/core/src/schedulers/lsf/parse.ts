/**
 * Pure parsers for LSF output: `bjobs -o ... -json` records (including the `ERROR` records it
 * prints for ids it does not know), bsub's job id, bqueues/bhosts JSON and bparams' default
 * queue, and the step from a record to a JobStatus.
 */

import { dropUndefined } from '../batch-commands.js';
import { parseHms } from '../directive-checks.js';
import { FINAL_STATES, type JobState, type JobStatus, type PartitionInfo } from '../types.js';
import { exitedState, mapLsfState } from './states.js';

export interface LsfJobRecord {
  /** "123", or "123[4]" for an element of an array job. */
  readonly id: string;
  readonly stat: string;
  readonly name?: string;
  readonly user?: string;
  readonly queue?: string;
  readonly hosts?: readonly string[];
  readonly submit?: Date;
  readonly start?: Date;
  readonly finish?: Date;
  readonly exitCode?: number;
  readonly exitReason?: string;
  readonly pendReason?: string;
  readonly runLimitMinutes?: number;
}

export interface ParsedBjobs {
  readonly records: LsfJobRecord[];
  /** Ids bjobs said it does not know ("Job <123> is not found"). */
  readonly notFound: string[];
}

/** Ids the adapter accepts: "123" and array elements "123[4]". */
export const LSF_JOB_ID = /^\d+(?:\[\d+\])?$/;

export class LsfParseError extends Error {
  override readonly name = 'LsfParseError';
}

/**
 * `bjobs -o "..." -json`: `{"COMMAND":"bjobs","JOBS":n,"RECORDS":[{...}]}`. Empty values are "".
 * Without a year in LSF's times ("Dec  7 15:51"), `now` decides it.
 */
export function parseBjobs(stdout: string, stderr: string, now: Date): ParsedBjobs {
  const notFound = [...stderr.matchAll(/Job <([^>]+)> is not found/g)].map((m) => m[1] ?? '');
  if (stdout.trim() === '') return { records: [], notFound };
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (error) {
    throw new LsfParseError(
      `bjobs printed JSON that could not be read: ${(error as Error).message}`,
    );
  }
  const rows = (doc as { RECORDS?: unknown }).RECORDS;
  const records: LsfJobRecord[] = [];
  for (const raw of Array.isArray(rows) ? rows : []) {
    const row = raw as Record<string, unknown>;
    const f = (key: string): string | undefined => {
      const value = row[key];
      const text =
        typeof value === 'number' ? String(value) : typeof value === 'string' ? value.trim() : '';
      return text === '' || text === '-' ? undefined : text;
    };
    const base = f('JOBID');
    if (base === undefined) continue;
    const error = f('ERROR');
    if (error !== undefined) {
      if (/not found/i.test(error)) notFound.push(base);
      continue;
    }
    const index = f('JOBINDEX');
    const rawName = row['JOB_NAME'];
    const exit = f('EXIT_CODE');
    records.push(
      dropUndefined({
        id: index === undefined || index === '0' ? base : `${base}[${index}]`,
        stat: f('STAT') ?? '',
        name: typeof rawName === 'string' && rawName !== '' ? rawName : undefined,
        user: f('USER'),
        queue: f('QUEUE'),
        hosts: execHosts(f('EXEC_HOST')),
        submit: lsfTime(f('SUBMIT_TIME'), now),
        start: lsfTime(f('START_TIME'), now),
        finish: lsfTime(f('FINISH_TIME'), now),
        exitCode: exit !== undefined && /^\d+$/.test(exit) ? Number(exit) : undefined,
        exitReason: f('EXIT_REASON'),
        pendReason: f('PEND_REASON'),
        runLimitMinutes: parseHms(f('RUNTIMELIMIT')?.split('/', 1)[0]),
      }),
    );
  }
  return { records, notFound };
}

/** "Job <123> is submitted to queue <normal>." (or "to default queue <normal>."). */
export function parseBsub(stdout: string): string | undefined {
  return /Job <(\d+)> is submitted to (?:default )?queue/.exec(stdout)?.[1];
}

const LIVENESS: Readonly<Record<JobState, number>> = {
  starting: 0,
  stopping: 1,
  queued: 2,
  unknown: 3,
  failed: 4,
  'timed-out': 5,
  cancelled: 6,
  completed: 7,
};

/** The record for an id: exact, or for an array job's id the liveliest of its elements. */
export function findLsfRecord(
  records: readonly LsfJobRecord[],
  id: string,
): LsfJobRecord | undefined {
  const exact = records.find((r) => r.id === id);
  if (exact !== undefined || id.includes('[')) return exact;
  let best: LsfJobRecord | undefined;
  for (const r of records.filter((x) => x.id.startsWith(`${id}[`))) {
    if (best === undefined || LIVENESS[stateOf(r)] < LIVENESS[stateOf(best)]) best = r;
  }
  return best === undefined ? undefined : { ...best, id };
}

function stateOf(record: LsfJobRecord): JobState {
  const state = mapLsfState(record.stat);
  return state === 'failed' ? exitedState(record.exitReason) : state;
}

export function recordToStatus(record: LsfJobRecord): JobStatus {
  const state = stateOf(record);
  const stat = record.stat.toUpperCase();
  const reason =
    state === 'queued'
      ? (record.pendReason ?? (stat === 'PEND' ? undefined : stat.toLowerCase()))
      : FINAL_STATES.has(state)
        ? record.exitReason
        : state === 'unknown'
          ? `bjobs says ${record.stat || 'nothing about its state'}`
          : undefined;
  return dropUndefined({
    id: record.id,
    state,
    nativeState: stat,
    name: record.name,
    reason,
    submitTime: record.submit,
    startTime: state === 'queued' && stat === 'PEND' ? undefined : record.start,
    endTime: FINAL_STATES.has(state) ? record.finish : undefined,
    timeLimitMinutes: record.runLimitMinutes,
    nodes: record.hosts,
    exitCode: FINAL_STATES.has(state)
      ? (record.exitCode ?? (stat === 'DONE' ? 0 : undefined))
      : undefined,
  });
}

/** "4*node1:4*node2" or "node1:node1:node2" -> ["node1", "node2"]. */
export function execHosts(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const hosts = text
    .split(/[:\s]+/)
    .map((h) => h.replace(/^\d+\*/, ''))
    .filter((h) => h !== '');
  return hosts.length === 0 ? undefined : [...new Set(hosts)];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * LSF's time stamps in UTC: "Dec  7 15:51", with optional seconds, year and a trailing flag
 * letter (E estimated, L from the run limit, X exact). Without a year, the year that puts the time
 * nearest to `now` (a finish estimate may lie ahead, a submit time months back).
 */
export function lsfTime(text: string | undefined, now: Date): Date | undefined {
  const m = /^(\w{3}) +(\d{1,2}) (\d{1,2}):(\d{2})(?::(\d{2}))?(?: (\d{4}))?(?: [A-Z])?$/.exec(
    (text ?? '').trim(),
  );
  if (m === null) return undefined;
  const month = MONTHS.indexOf(m[1] ?? '');
  if (month < 0) return undefined;
  const [d, h, mi, s] = [m[2], m[3], m[4], m[5] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
  ];
  const at = (y: number): Date => new Date(Date.UTC(y, month, d, h, mi, s));
  if (m[6] !== undefined) return at(Number(m[6]));
  const year = now.getUTCFullYear();
  const candidates = [year - 1, year, year + 1].map(at);
  return candidates.reduce((a, b) =>
    Math.abs(b.getTime() - now.getTime()) < Math.abs(a.getTime() - now.getTime()) ? b : a,
  );
}

/** bqueues/bhosts `-o ... -json`: the RECORDS rows as upper-case key -> string maps. */
export function parseLsfRecords(stdout: string): Record<string, string>[] {
  if (stdout.trim() === '') return [];
  const rows = (JSON.parse(stdout) as { RECORDS?: unknown }).RECORDS;
  return (Array.isArray(rows) ? rows : []).map((row) =>
    Object.fromEntries(
      Object.entries(row as Record<string, unknown>).map(([k, v]) => [
        k,
        typeof v === 'string' || typeof v === 'number' ? String(v).trim() : '',
      ]),
    ),
  );
}

/** "Default Queues:  normal short" from bparams: the first one. */
export function parseDefaultQueue(stdout: string): string | undefined {
  return /Default Queues?:\s*(\S+)/i.exec(stdout)?.[1];
}

/**
 * Queues as partitions. A queue is available when "Open:Active"; host slots (MAX) of the usable
 * hosts stand in for CPUs per node, since LSF schedules slots.
 */
export function queuesToPartitions(
  queues: readonly Record<string, string>[],
  hosts: readonly Record<string, string>[],
  defaultQueue: string | undefined,
): PartitionInfo[] {
  const usable = hosts.filter((h) => /^(ok|closed_full|closed_excl)$/i.test(h['STATUS'] ?? ''));
  const slots = usable.map((h) => Number(h['MAX'])).filter((n) => Number.isInteger(n) && n > 0);
  return queues
    .filter((q) => (q['QUEUE_NAME'] ?? '') !== '')
    .map(
      (q) =>
        dropUndefined({
          name: q['QUEUE_NAME'] ?? '',
          isDefault: q['QUEUE_NAME'] === defaultQueue,
          available: /^open:active$/i.test(q['STATUS'] ?? ''),
          totalNodes: usable.length === 0 ? undefined : usable.length,
          cpusPerNode: slots.length === 0 ? undefined : Math.max(...slots),
        }) as PartitionInfo,
    );
}
