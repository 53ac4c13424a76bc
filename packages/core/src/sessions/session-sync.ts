/**
 * One poll of one cluster: settle `submitting` sessions left over from a crash (by job name), ask
 * the scheduler about ALL the cluster's live jobs in one batched `status` call, then move each
 * session along (connection.json for running jobs, log tail for ended ones). Every record change
 * is committed only if nothing else changed the session meanwhile; the next poll sees the rest.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { HpcError, throwIfAborted } from '../errors.js';
import { isFinal, type JobStatus, type Scheduler } from '../schedulers/types.js';
import type { Transport } from '../transport/types.js';
import { parseConnectionFile } from './connection-file.js';
import { readOptional, recordLogTail, SESSION_FILES, sessionFile } from './remote-files.js';
import type { SessionHost } from './session-host.js';
import { applyConnection, applyJobStatus, type Mutable } from './session-transitions.js';
import type { TickOutcome } from './status-poller.js';
import type { SessionConnection, SessionRecord } from './types.js';

const BUSY_STATES = new Set(['submitting', 'queued', 'starting', 'stopping']);
/** How often a starting session's connection.json is looked for between polls: one SFTP read. */
const WATCH_EVERY_MS = 100;
/** How long it is looked for that often; after that the regular polls carry on alone. */
const WATCH_FOR_MS = 60_000;

export async function syncCluster(
  host: SessionHost,
  cluster: string,
  signal: AbortSignal,
): Promise<TickOutcome> {
  const live = liveSessions(host, cluster);
  if (live.length === 0) return 'idle';
  let open;
  try {
    open = host.clusters.get(cluster);
  } catch (error) {
    await markUnknown(host, live, error);
    throw error;
  }
  const { scheduler, transport } = open;

  for (const record of live) {
    if (host.recovering.has(record.id)) await recover(host, record, scheduler, signal);
  }
  const polled = liveSessions(host, cluster).filter((r) => r.jobId !== undefined);
  if (polled.length > 0) {
    let statuses: Map<string, JobStatus>;
    try {
      statuses = await scheduler.status(
        polled.map((r) => r.jobId as string),
        { signal },
      );
    } catch (error) {
      throwIfAborted(signal);
      await markUnknown(host, polled, error);
      throw error;
    }
    throwIfAborted(signal);
    await Promise.all(
      polled.map((r) => {
        const jobId = r.jobId as string;
        const status = statuses.get(jobId) ?? missingStatus(jobId);
        return follow(host, r.id, status, transport, signal);
      }),
    );
  }
  return outcome(host, cluster);
}

function liveSessions(host: SessionHost, cluster: string): SessionRecord[] {
  return host.all().filter((r) => r.cluster === cluster && !isFinal(r.state));
}

function outcome(host: SessionHost, cluster: string): TickOutcome {
  const live = liveSessions(host, cluster);
  if (live.length === 0) return 'idle';
  return live.some((r) => BUSY_STATES.has(r.state)) ? 'busy' : 'steady';
}

function missingStatus(id: string): JobStatus {
  return {
    id,
    state: 'unknown',
    nativeState: 'UNKNOWN',
    reason: 'the scheduler did not report this job',
  };
}

/** The scheduler could not be asked: the sessions are `unknown`, never ended. */
async function markUnknown(
  host: SessionHost,
  records: readonly SessionRecord[],
  error: unknown,
): Promise<void> {
  const reason = `could not ask the scheduler: ${error instanceof Error ? error.message : String(error)}`;
  await Promise.all(
    records.map(async (r) => {
      const current = host.record(r.id);
      if (current === undefined || isFinal(current.state) || current.jobId === undefined) return;
      await host.commitIf(current, { ...current, state: 'unknown', reason });
    }),
  );
}

/** Applies one job status to one session, reading what the new state needs from the cluster. */
async function follow(
  host: SessionHost,
  id: string,
  status: JobStatus,
  transport: Transport,
  signal: AbortSignal,
): Promise<void> {
  const before = host.record(id);
  if (before === undefined || isFinal(before.state)) return;
  const now = host.now();
  const step = applyJobStatus(before, status, {
    now,
    stopRequested: host.stopRequested.has(id),
    recheck: host.recheck.has(id),
  });
  let next: Mutable<SessionRecord> = step.record;
  const dir = next.sessionDir;
  // Discovered jobs are followed, but only adopted ones are looked into.
  if (step.readConnection && dir !== undefined && next.discovered !== true) {
    const found = await readConnection(host, transport, dir, next.template, signal);
    if (found === 'error') return; // reported; try again on the next poll
    next = applyConnection(next, found, now);
  }
  if (step.ended && dir !== undefined) {
    const tail = await recordLogTail(transport, dir, signal);
    if (tail !== undefined) next.logTail = tail;
  }
  throwIfAborted(signal);
  if (host.record(id) !== before) return; // changed while we read: the next poll decides
  // Tunnels go first, so whoever sees the session end (or its service move) finds them closed.
  const moved =
    before.connection !== undefined &&
    JSON.stringify(before.connection.endpoints) !== JSON.stringify(next.connection?.endpoints);
  if (step.ended || moved) await host.tunnels.closeSession(id);
  if (!(await host.commitIf(before, next))) return;
  if (step.readConnection || status.state !== 'unknown') host.recheck.delete(id);
  if (step.ended) host.stopRequested.delete(id);
  if (next.state === 'starting' && next.connection === undefined) host.watchConnection(id);
}

/**
 * Looks for a starting session's connection.json every WATCH_EVERY_MS, through the cluster's open
 * connection (a file read, no scheduler command), until it appears, the session leaves
 * `starting`, or WATCH_FOR_MS pass. Ready is then seen within a tenth of a second of the job
 * writing the file, while the scheduler is still asked only once per poll interval.
 */
export async function watchConnection(
  host: SessionHost,
  id: string,
  signal: AbortSignal,
): Promise<void> {
  const until = Date.now() + WATCH_FOR_MS;
  while (Date.now() < until) {
    try {
      await sleep(WATCH_EVERY_MS, undefined, { signal });
    } catch {
      return; // closing
    }
    const record = host.record(id);
    if (record?.state !== 'starting' || record.connection !== undefined) return;
    if (record.sessionDir === undefined || record.discovered === true) return;
    const { transport } = host.clusters.get(record.cluster);
    const found = await readConnection(host, transport, record.sessionDir, record.template, signal);
    if (found === 'error') return; // reported; the regular polls carry on
    if (found === undefined || host.record(id) !== record) continue;
    await host.commitIf(record, applyConnection(record, found, host.now()));
    return;
  }
}

async function readConnection(
  host: SessionHost,
  transport: Transport,
  sessionDir: string,
  fallbackKind: string,
  signal: AbortSignal,
): Promise<{ connection: SessionConnection } | { problem: string } | undefined | 'error'> {
  let data: Buffer | undefined;
  try {
    data = await readOptional(transport, sessionFile(sessionDir, SESSION_FILES.connection), signal);
  } catch (error) {
    throwIfAborted(signal);
    host.problem(
      new HpcError(`Could not read ${sessionDir}/${SESSION_FILES.connection}.`, { cause: error }),
    );
    return 'error';
  }
  if (data === undefined) return undefined;
  const parsed = parseConnectionFile(data.toString('utf8'), fallbackKind);
  return parsed.ok ? { connection: parsed.connection } : { problem: parsed.reason };
}

/**
 * A `submitting` session without a job id whose submit may have happened (the agent stopped, or
 * the connection dropped, in between): the job name says whether it did.
 */
async function recover(
  host: SessionHost,
  record: SessionRecord,
  scheduler: Scheduler,
  signal: AbortSignal,
): Promise<void> {
  const jobs = await scheduler.listJobs(record.jobName, { signal });
  const job = jobs.find((j) => j.name === record.jobName);
  if (host.record(record.id) !== record) return;
  host.recovering.delete(record.id);
  if (job === undefined) {
    const next: Mutable<SessionRecord> = {
      ...record,
      state: 'failed',
      reason:
        `its submission was interrupted and no job named ${record.jobName} is on the cluster ` +
        '(it was never submitted, or it has already ended)',
      endedAt: host.now().toISOString(),
    };
    host.stopRequested.delete(record.id);
    await host.commitIf(record, next);
    return;
  }
  if (host.stopRequested.has(record.id)) {
    await scheduler.cancel([job.id], { signal });
  }
  // The status batch of this same poll brings the real state.
  await host.commitIf(record, {
    ...record,
    jobId: job.id,
    state: host.stopRequested.has(record.id) ? 'stopping' : 'queued',
  });
}
