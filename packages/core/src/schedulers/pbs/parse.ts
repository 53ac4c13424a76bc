/**
 * Pure parsers for PBS job output: PBS Pro's `qstat -f -F json`, Torque's `qstat -f -x` XML, the
 * "Unknown Job Id" lines both print on stderr, qsub's job id, and the step from a parsed record
 * to a JobStatus. Nothing here runs a command; tests feed recorded output.
 */

import { dropUndefined } from '../batch-commands.js';
import { parseHms } from '../directive-checks.js';
import { FINAL_STATES, type JobStatus } from '../types.js';
import type { PbsFlavor } from './commands.js';
import { PBS_STATE_NAMES, finishedState, mapPbsState } from './states.js';
import { child, childText, parseXml } from './xml.js';

/** One job as qstat described it, before it is mapped onto our states. */
export interface PbsJobRecord {
  readonly id: string;
  readonly state: string;
  readonly name?: string;
  readonly owner?: string;
  readonly queue?: string;
  readonly comment?: string;
  readonly exitStatus?: number;
  readonly submit?: Date;
  readonly start?: Date;
  readonly end?: Date;
  readonly expectedStart?: Date;
  readonly walltimeMinutes?: number;
  readonly nodes?: readonly string[];
}

/**
 * Ids the adapter accepts: "123", "123.server", array jobs "123[].server" and subjobs
 * "123[4].server". Server names are host names.
 */
export const PBS_JOB_ID = /^\d+(?:\[\d*\])?(?:\.[A-Za-z0-9][A-Za-z0-9._-]*)?$/;

export class PbsParseError extends Error {
  override readonly name = 'PbsParseError';
}

/** `qstat -f -F json`: `{"Jobs": {"<id>": {...}}}`; no "Jobs" key when no job matched. */
export function parseQstatJson(stdout: string): PbsJobRecord[] {
  if (stdout.trim() === '') return [];
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (error) {
    throw new PbsParseError(
      `qstat printed JSON that could not be read: ${(error as Error).message}`,
    );
  }
  const jobs = record(record(doc)['Jobs']);
  return Object.entries(jobs).map(([id, raw]) => {
    const job = record(raw);
    const resources = record(job['Resource_List']);
    const estimated = record(job['estimated']);
    return dropUndefined({
      id,
      state: str(job['job_state']) ?? '',
      name: rawStr(job['Job_Name']),
      owner: str(job['Job_Owner']),
      queue: str(job['queue']),
      comment: str(job['comment']),
      exitStatus: int(job['Exit_status']),
      submit: pbsDate(str(job['ctime'])),
      start: pbsDate(str(job['stime'])),
      end: pbsDate(str(job['obittime'])) ?? finishedAt(job),
      expectedStart: pbsDate(str(estimated['start_time'])),
      walltimeMinutes: parseHms(str(resources['walltime'])),
      nodes: execHosts(str(job['exec_host'])),
    });
  });
}

/** `qstat -f -x` (Torque): `<Data><Job><Job_Id>...</Job_Id>...</Job></Data>`, times in epoch seconds. */
export function parseQstatXml(stdout: string): PbsJobRecord[] {
  if (stdout.trim() === '') return [];
  let root;
  try {
    root = parseXml(stdout);
  } catch (error) {
    throw new PbsParseError(
      `qstat printed XML that could not be read: ${(error as Error).message}`,
    );
  }
  const data = child(root, 'Data');
  if (data === undefined) return [];
  return data.children
    .filter((c) => c.name === 'Job')
    .map((job) => {
      const resources = child(job, 'Resource_List');
      const exit = childText(job, 'exit_status');
      const rawName = child(job, 'Job_Name')?.text;
      return dropUndefined({
        id: childText(job, 'Job_Id') ?? '',
        state: childText(job, 'job_state') ?? '',
        name: rawName === undefined || rawName === '' ? undefined : rawName,
        owner: childText(job, 'Job_Owner'),
        queue: childText(job, 'queue'),
        comment: childText(job, 'comment'),
        exitStatus: exit !== undefined && /^-?\d+$/.test(exit) ? Number(exit) : undefined,
        submit: epoch(childText(job, 'ctime')),
        start: epoch(childText(job, 'start_time')),
        end: epoch(childText(job, 'comp_time')),
        walltimeMinutes:
          resources === undefined ? undefined : parseHms(childText(resources, 'walltime')),
        nodes: execHosts(childText(job, 'exec_host')),
      });
    })
    .filter((r) => r.id !== '');
}

export function parseQstat(flavor: PbsFlavor, stdout: string): PbsJobRecord[] {
  return flavor === 'pbspro' ? parseQstatJson(stdout) : parseQstatXml(stdout);
}

/**
 * Ids qstat says it does not know ("qstat: Unknown Job Id 123.server", Torque adds "Error"):
 * gone past the history window, or never there.
 */
export function unknownJobIds(stderr: string): string[] {
  const ids: string[] = [];
  for (const m of stderr.matchAll(/Unknown Job Id(?: Error)?\s+(\S+)/gi))
    if (m[1] !== undefined) ids.push(m[1]);
  return ids;
}

/** The job id qsub printed: its last non-empty line, when that is an id. */
export function parseQsub(stdout: string): string | undefined {
  const last = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .at(-1);
  return last !== undefined && PBS_JOB_ID.test(last) ? last : undefined;
}

/** The sequence number and array part of an id ("123[]" of "123[].server"), for matching. */
export function sequenceOf(id: string): string {
  return id.split('.', 1)[0] ?? id;
}

/** Finds a record by exact id, or by sequence number when the server part is spelled otherwise. */
export function findRecord(records: readonly PbsJobRecord[], id: string): PbsJobRecord | undefined {
  return (
    records.find((r) => r.id === id) ?? records.find((r) => sequenceOf(r.id) === sequenceOf(id))
  );
}

export function recordToStatus(record: PbsJobRecord, flavor: PbsFlavor, id = record.id): JobStatus {
  let state = mapPbsState(record.state);
  let exit: { exitCode?: number; exitSignal?: number } = {};
  if (state === 'completed') {
    const finished = finishedState(record.exitStatus, record.comment, flavor);
    state = finished.state;
    exit = { exitCode: finished.exitCode, exitSignal: finished.exitSignal };
  }
  const letter = record.state.trim().toUpperCase();
  const described = PBS_STATE_NAMES[letter];
  const reason =
    record.comment ??
    (state === 'queued' && letter !== 'Q' ? described : undefined) ??
    (state === 'unknown'
      ? letter === ''
        ? 'qstat printed no job_state'
        : `qstat says ${described ?? `state ${letter}`}`
      : undefined);
  return dropUndefined({
    id,
    state,
    nativeState: letter,
    name: record.name,
    reason,
    submitTime: record.submit,
    // Only a plain queued job will start by itself; a held one's estimate is a false promise.
    expectedStart: letter === 'Q' ? record.expectedStart : undefined,
    startTime: state === 'queued' ? undefined : record.start,
    endTime: FINAL_STATES.has(state) ? record.end : undefined,
    timeLimitMinutes: record.walltimeMinutes,
    nodes: state === 'queued' ? undefined : record.nodes,
    ...exit,
  });
}

/** "node1/0*4+node2/0-3" -> ["node1", "node2"], in order, each once. */
export function execHosts(text: string | undefined): string[] | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const hosts = text
    .split('+')
    .map((part) => part.split('/', 1)[0]?.trim() ?? '')
    .filter((h) => h !== '');
  return hosts.length === 0 ? undefined : [...new Set(hosts)];
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** ctime(3) text as qstat prints it under TZ=UTC: "Mon Dec  7 15:51:36 2026". */
export function pbsDate(text: string | undefined): Date | undefined {
  const m = /^\w{3} (\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4})$/.exec((text ?? '').trim());
  if (m === null) return undefined;
  const month = MONTHS.indexOf(m[1] ?? '');
  if (month < 0) return undefined;
  const [d, h, mi, s, y] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(Date.UTC(y, month, d, h, mi, s));
  return date.getUTCDate() === d ? date : undefined;
}

/** A finished PBS Pro job without obittime (deleted while queued) ended at its last change. */
function finishedAt(job: Record<string, unknown>): Date | undefined {
  return str(job['job_state']) === 'F' ? pbsDate(str(job['mtime'])) : undefined;
}

function epoch(text: string | undefined): Date | undefined {
  if (text === undefined || !/^\d+$/.test(text)) return undefined;
  const seconds = Number(text);
  return seconds > 0 ? new Date(seconds * 1000) : undefined;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function str(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

/** Names are kept exactly: they are how we find our jobs again. */
function rawStr(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function int(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d+$/.test(value.trim())) return Number(value.trim());
  return undefined;
}
