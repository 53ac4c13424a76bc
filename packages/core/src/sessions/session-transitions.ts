/**
 * How a session record follows its job: pure functions from (record, what the scheduler said,
 * what connection.json said) to the next record. The rules that matter: `unknown` never ends a
 * session; a stop that was asked for holds the session in `stopping` until the job ends; a job
 * that runs is `starting` until its connection file is read, and a ready session stays ready while
 * its job runs.
 */
import { isFinal, type JobStatus } from '../schedulers/types.js';
import type { SessionConnection, SessionRecord } from './types.js';

export interface StatusContext {
  readonly now: Date;
  /** A stop was asked for and the job has not ended yet. */
  readonly stopRequested: boolean;
  /** Read connection.json even if the session is ready (after a restart or an unknown spell). */
  readonly recheck: boolean;
}

export interface StatusStep {
  readonly record: SessionRecord;
  /** The job runs and the session is not known to be ready: read connection.json. */
  readonly readConnection: boolean;
  /** The session reached a final state with this step. */
  readonly ended: boolean;
}

/** The record after one JobStatus; connection and log tail are the caller's (async) business. */
export function applyJobStatus(
  record: SessionRecord,
  status: JobStatus,
  ctx: StatusContext,
): StatusStep {
  const now = ctx.now.toISOString();
  const common: Partial<Mutable<SessionRecord>> = {
    ...(status.nodes !== undefined && status.nodes.length > 0 ? { nodes: [...status.nodes] } : {}),
    ...(status.startTime === undefined ? {} : { startedAt: status.startTime.toISOString() }),
    ...(status.timeLimitMinutes === undefined ? {} : { timeLimitMinutes: status.timeLimitMinutes }),
  };
  let next: Mutable<SessionRecord> = { ...record, ...common };

  if (isFinal(status.state)) {
    next = {
      ...next,
      state: status.state,
      endedAt: status.endTime?.toISOString() ?? record.endedAt ?? now,
      ...(status.exitCode === undefined ? {} : { exitCode: status.exitCode }),
    };
    setOrDelete(next, 'reason', finalReason(status));
    delete next.expectedStart;
    return { record: next, readConnection: false, ended: !isFinal(record.state) };
  }
  if (status.state === 'unknown') {
    next.state = 'unknown';
    next.reason = status.reason ?? 'the scheduler did not report this job';
    return { record: next, readConnection: false, ended: false };
  }
  if (ctx.stopRequested || status.state === 'stopping') {
    next.state = 'stopping';
    delete next.reason;
    delete next.expectedStart;
    return { record: next, readConnection: false, ended: false };
  }
  if (status.state === 'queued') {
    next.state = 'queued';
    setOrDelete(next, 'reason', status.reason);
    setOrDelete(next, 'expectedStart', status.expectedStart?.toISOString());
    // Requeued after running: whatever it wrote before no longer listens.
    delete next.connection;
    delete next.readyAt;
    return { record: next, readConnection: false, ended: false };
  }
  // Running.
  delete next.expectedStart;
  if (record.state === 'ready' && !ctx.recheck) {
    return { record: next, readConnection: false, ended: false };
  }
  next.state = 'starting';
  delete next.reason;
  return { record: next, readConnection: true, ended: false };
}

/** The running session once its connection file was read: `ready`, or still `starting`. */
export function applyConnection(
  record: SessionRecord,
  found: { readonly connection: SessionConnection } | { readonly problem: string } | undefined,
  now: Date,
): SessionRecord {
  if (found === undefined) {
    // Not written yet. A session that was ready (before a restart) but lost its file is not.
    const next: Mutable<SessionRecord> = { ...record, state: 'starting' };
    delete next.connection;
    delete next.readyAt;
    return next;
  }
  if ('problem' in found) return { ...record, state: 'starting', reason: found.problem };
  const same =
    record.connection !== undefined &&
    JSON.stringify(record.connection.endpoints) === JSON.stringify(found.connection.endpoints);
  const next: Mutable<SessionRecord> = {
    ...record,
    state: 'ready',
    connection: found.connection,
    readyAt: same && record.readyAt !== undefined ? record.readyAt : now.toISOString(),
  };
  delete next.reason;
  return next;
}

/** True when two records differ in anything but `updatedAt`. */
export function changed(a: SessionRecord, b: SessionRecord): boolean {
  return JSON.stringify({ ...a, updatedAt: '' }) !== JSON.stringify({ ...b, updatedAt: '' });
}

function finalReason(status: JobStatus): string | undefined {
  if (status.reason !== undefined && status.reason !== '' && status.reason !== 'None') {
    return status.reason;
  }
  if (status.state === 'failed' && status.exitCode !== undefined) {
    return `the job exited with code ${status.exitCode}`;
  }
  if (status.state === 'timed-out') return 'the job reached its time limit';
  return undefined;
}

function setOrDelete(
  record: Mutable<SessionRecord>,
  key: 'reason' | 'expectedStart',
  value: string | undefined,
): void {
  if (value !== undefined && value !== '') record[key] = value;
  else if (key === 'reason') delete record.reason;
  else delete record.expectedStart;
}

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };
