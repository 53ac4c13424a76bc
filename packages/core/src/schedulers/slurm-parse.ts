/**
 * Pure parsers for the job-side Slurm commands (squeue, sacct, sbatch, scancel) and the step from
 * a parsed record to a JobStatus. Nothing here runs a command; tests feed recorded outputs.
 */

import { expandHostlist } from './hostlist.js';
import { FIELD_SEPARATOR, SACCT_FIELDS, SQUEUE_FIELDS } from './slurm-commands.js';
import { isPausedSlurmState, mapSlurmState, normalizeSlurmState } from './slurm-states.js';
import { parseSlurmDuration, parseSlurmTimestamp } from './slurm-time.js';
import { FINAL_STATES, type JobState, type JobStatus } from './types.js';

/** One job as squeue or sacct described it, before it is mapped onto our states. */
export interface SlurmJobRecord {
  readonly id: string;
  /** As printed, e.g. "PENDING" or sacct's "CANCELLED by 1000". */
  readonly nativeState: string;
  readonly reason?: string;
  readonly name?: string;
  readonly submit?: Date;
  /** Actual start, or for a pending job the scheduler's estimate. */
  readonly start?: Date;
  /** Actual end, or for a running job the end of its time limit. */
  readonly end?: Date;
  readonly timeLimitMinutes?: number;
  readonly partition?: string;
  readonly nodes?: readonly string[];
  readonly exitCode?: number;
  readonly exitSignal?: number;
}

/** A line that could not be read; `id` when at least the job id at its start was readable. */
export interface GarbledLine {
  readonly line: string;
  readonly id?: string;
}

export interface ParsedJobs {
  readonly records: SlurmJobRecord[];
  readonly garbled: GarbledLine[];
}

/**
 * Job ids this adapter accepts from callers: plain ids, array tasks ("123_4") and het job
 * components ("123+1").
 */
export const SLURM_JOB_ID = /^\d+(?:_\d+|\+\d+)?$/;

/** What squeue/sacct may print in the id column, including pending array ranges "123_[1-9%2]". */
const PRINTED_JOB_ID = /^\d+(?:_(?:\d+|\[[\d,\-%]+\])|\+\d+)?$/;

export function parseSqueue(stdout: string): ParsedJobs {
  return parseLines(stdout, SQUEUE_FIELDS.length, (f) => ({
    id: f(0),
    nativeState: f(1),
    reason: optional(f(2)),
    submit: parseSlurmTimestamp(f(3)),
    start: parseSlurmTimestamp(f(4)),
    end: parseSlurmTimestamp(f(5)),
    timeLimitMinutes: parseSlurmDuration(f(6)),
    partition: optional(f(7)),
    nodes: parseNodes(f(8)),
    name: exactName(f(9)),
  }));
}

export function parseSacct(stdout: string): ParsedJobs {
  return parseLines(stdout, SACCT_FIELDS.length, (f) => {
    const exit = parseExitCode(f(2));
    return {
      id: f(0),
      nativeState: f(1),
      ...exit,
      reason: optional(f(3)),
      submit: parseSlurmTimestamp(f(4)),
      start: parseSlurmTimestamp(f(5)),
      end: parseSlurmTimestamp(f(6)),
      timeLimitMinutes: parseSlurmDuration(f(7)),
      partition: optional(f(8)),
      nodes: parseNodes(f(9)),
      name: exactName(f(10)),
    };
  });
}

/**
 * Splits lines into exactly `count` fields, the last one taking any surplus separators (it is
 * always the job name). A line with too few fields, or whose first field is not a job id, is
 * garbled: the caller reports its job as `unknown` rather than dropping it.
 */
function parseLines(
  stdout: string,
  count: number,
  build: (field: (index: number) => string) => SlurmJobRecord,
): ParsedJobs {
  const records: SlurmJobRecord[] = [];
  const garbled: GarbledLine[] = [];
  for (const raw of stdout.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    const parts = line.split(FIELD_SEPARATOR);
    const id = parts[0]?.trim() ?? '';
    const idOk = PRINTED_JOB_ID.test(id);
    if (parts.length < count || !idOk) {
      garbled.push(idOk ? { line, id } : { line });
      continue;
    }
    // Every field but the name is trimmed; the name is kept exactly.
    const fields = [
      ...parts.slice(0, count - 1).map((p) => p.trim()),
      parts.slice(count - 1).join(FIELD_SEPARATOR),
    ];
    records.push(dropUndefined(build((i) => fields[i] ?? '')));
  }
  return { records, garbled };
}

/** "3:0" -> exit code 3; "0:9" -> signal 9 (no exit code: the process did not exit by itself). */
export function parseExitCode(text: string | undefined): {
  exitCode?: number;
  exitSignal?: number;
} {
  const match = /^(\d+):(\d+)$/.exec((text ?? '').trim());
  if (match === null) return {};
  const code = Number(match[1]);
  const signal = Number(match[2]);
  return signal > 0 ? { exitSignal: signal } : { exitCode: code };
}

function parseNodes(text: string | undefined): string[] | undefined {
  const value = (text ?? '').trim();
  if (value === '' || value === '(null)' || /^none/i.test(value) || value === 'N/A') {
    return undefined;
  }
  try {
    const hosts = expandHostlist(value);
    return hosts.length === 0 ? undefined : hosts;
  } catch {
    // A hostlist we cannot read should not hide the job's state.
    return undefined;
  }
}

/** Squeue prints "None" as the reason of a job that is not waiting for anything. */
function optional(text: string | undefined): string | undefined {
  const value = (text ?? '').trim();
  return value === '' || value === 'None' || value === '(null)' ? undefined : value;
}

/** Names are kept byte for byte (no trimming): they are how we find our jobs again. */
function exactName(text: string | undefined): string | undefined {
  return text === undefined || text === '' ? undefined : text;
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

/** How much a state says "this job is alive", for choosing among array tasks or het components. */
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

/**
 * The record for an id we asked about. An exact match wins. For a plain id with no exact line we
 * look at its array tasks ("123_4", "123_[5-9]") or het components ("123+0", "123+1") and take the
 * liveliest: an array job runs while any task runs, a het job while any component does.
 */
export class JobIndex {
  private readonly exact = new Map<string, SlurmJobRecord>();
  private readonly byBase = new Map<string, SlurmJobRecord[]>();
  private readonly garbledIds = new Set<string>();

  constructor(parsed: ParsedJobs) {
    for (const record of parsed.records) {
      this.exact.set(record.id, record);
      const base = /^(\d+)[_+]/.exec(record.id)?.[1];
      if (base !== undefined) {
        const list = this.byBase.get(base) ?? [];
        list.push(record);
        this.byBase.set(base, list);
      }
    }
    for (const line of parsed.garbled) if (line.id !== undefined) this.garbledIds.add(line.id);
  }

  find(id: string): SlurmJobRecord | undefined {
    const exact = this.exact.get(id);
    if (exact !== undefined) return exact;
    const parts = this.byBase.get(id);
    if (parts === undefined) return undefined;
    let best: SlurmJobRecord | undefined;
    for (const record of parts) {
      if (best === undefined || rank(record) < rank(best)) best = record;
    }
    return best === undefined ? undefined : { ...best, id };
  }

  /** True when the job's line was there but unreadable. */
  isGarbled(id: string): boolean {
    return this.garbledIds.has(id);
  }
}

function rank(record: SlurmJobRecord): number {
  return LIVENESS[mapSlurmState(record.nativeState)];
}

/**
 * Reasons of pending jobs that will not start by themselves. Slurm still prints a start estimate
 * for some of them (a job requeued in held state showed one on the test cluster), which would be
 * a false promise.
 */
const WONT_START = /held|DependencyNeverSatisfied/i;

/**
 * A record as a JobStatus. `now` decides whether a pending job's start time is an estimate
 * (future) or stale (past or absent), since squeue prints both the same way.
 */
export function recordToStatus(record: SlurmJobRecord, now: Date): JobStatus {
  const state = mapSlurmState(record.nativeState);
  const native = normalizeSlurmState(record.nativeState) || record.nativeState.trim();
  const paused = isPausedSlurmState(record.nativeState);
  const start = record.start;
  const startIsFuture = start !== undefined && start.getTime() > now.getTime();
  const ran = state !== 'queued' || paused;
  const status: Record<string, unknown> = {
    id: record.id,
    state,
    nativeState: native,
    name: record.name,
    reason: record.reason ?? (paused ? native.toLowerCase() : undefined),
    submitTime: record.submit,
    expectedStart:
      state === 'queued' && !paused && startIsFuture && !WONT_START.test(record.reason ?? '')
        ? start
        : undefined,
    startTime: ran && start !== undefined && !startIsFuture ? start : undefined,
    endTime: FINAL_STATES.has(state) ? record.end : undefined,
    timeLimitMinutes: record.timeLimitMinutes,
    nodes: record.nodes,
    exitCode: record.exitCode,
    exitSignal: record.exitSignal,
  };
  return dropUndefined(status) as unknown as JobStatus;
}

/** An id we could not learn anything about, with the reason shown to the user. */
export function unknownStatus(id: string, reason: string): JobStatus {
  return { id, state: 'unknown', nativeState: '', reason };
}

/** The job id from `sbatch --parsable` ("123" or "123;cluster"), or undefined. */
export function parseSbatch(stdout: string): { jobId: string; cluster?: string } | undefined {
  const lines = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const last = lines.at(-1);
  const match = last === undefined ? null : /^(\d+)(?:;(\S+))?$/.exec(last);
  if (match === null) return undefined;
  const [, jobId = '', cluster] = match;
  return cluster === undefined ? { jobId } : { jobId, cluster };
}

/** Scancel complaints that mean "nothing left to cancel". */
const CANCEL_TOLERATED = [
  /already completing or completed/i,
  /invalid job id specified/i,
  /job has already finished/i,
];

/**
 * Splits scancel's stderr into errors that matter and ones about jobs that already ended. Lines
 * that are not errors (warnings, info) are ignored.
 */
export function classifyScancelErrors(stderr: string): { ignored: string[]; errors: string[] } {
  const ignored: string[] = [];
  const errors: string[] = [];
  for (const line of stderr.split('\n').map((l) => l.trim())) {
    if (!/error/i.test(line)) continue;
    if (CANCEL_TOLERATED.some((re) => re.test(line))) ignored.push(line);
    else errors.push(line);
  }
  return { ignored, errors };
}
