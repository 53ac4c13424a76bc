/**
 * How a session reads in the tree, the status bar, progress notifications and the server list:
 * its state in words, the queue reason, the expected start, time left before the walltime ends.
 * Pure functions of a record and the current time.
 */
import { isFinal, type SessionRecord, type SessionState } from '@hpc-jupyter/core';

const STATE_LABELS: Readonly<Record<SessionState, string>> = {
  submitting: 'submitting',
  queued: 'queued',
  starting: 'starting',
  ready: 'ready',
  stopping: 'stopping',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
  'timed-out': 'timed out',
  unknown: 'unknown',
};

export function stateLabel(state: SessionState): string {
  return STATE_LABELS[state];
}

/** Waiting for the job or its service: the states a progress notification follows. */
export function isPending(state: SessionState): boolean {
  return state === 'submitting' || state === 'queued' || state === 'starting';
}

/** Not ended and not on its way out: a session that can still be stopped. */
export function isLive(state: SessionState): boolean {
  return !isFinal(state) && state !== 'stopping';
}

/** When the walltime runs out, in ms since the epoch, if the job has started. */
export function walltimeEnd(record: SessionRecord): number | undefined {
  if (record.startedAt === undefined || record.timeLimitMinutes === undefined) return undefined;
  const started = Date.parse(record.startedAt);
  if (Number.isNaN(started)) return undefined;
  return started + record.timeLimitMinutes * 60_000;
}

/** Milliseconds until the walltime ends (never negative), for a running session. */
export function timeLeftMs(record: SessionRecord, now: number): number | undefined {
  if (isFinal(record.state)) return undefined;
  const end = walltimeEnd(record);
  return end === undefined ? undefined : Math.max(0, end - now);
}

/** "2 h 05 min", "42 min", "less than a minute". */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 1) return 'less than a minute';
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours === 0) return `${rest} min`;
  return `${hours} h ${String(rest).padStart(2, '0')} min`;
}

/** "0:42", "1:02:03": how long something has been going on. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(s).padStart(2, '0')}`;
}

/** A clock time for an ISO timestamp: "12:03" today, else "Mar 4 12:03". */
export function formatClock(iso: string, now: number): string | undefined {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return undefined;
  const d = new Date(t);
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  if (new Date(now).toDateString() === d.toDateString()) return hm;
  return `${d.toLocaleString('en', { month: 'short' })} ${d.getDate()} ${hm}`;
}

/**
 * One line about a session: "queued (Resources), expected start 12:03",
 * "ready on node1, 52 min left", "failed (NonZeroExitCode)".
 */
export function describeSession(record: SessionRecord, now: number): string {
  const parts: string[] = [stateLabel(record.state)];
  if (record.reason !== undefined && record.reason !== '' && record.state !== 'ready') {
    parts[0] = `${parts[0]} (${record.reason})`;
  }
  if (record.state === 'queued' && record.expectedStart !== undefined) {
    const at = formatClock(record.expectedStart, now);
    if (at !== undefined) parts.push(`expected start ${at}`);
  }
  if (
    (record.state === 'ready' || record.state === 'starting') &&
    record.nodes !== undefined &&
    record.nodes.length > 0
  ) {
    parts[0] = `${parts[0]} on ${summarizeNodes(record.nodes)}`;
  }
  const left = timeLeftMs(record, now);
  if (left !== undefined && isLive(record.state)) parts.push(`${formatDuration(left)} left`);
  return parts.join(', ');
}

/** What a progress notification shows while a session waits: the line plus the time waited. */
export function describeWait(record: SessionRecord, now: number): string {
  const since = Date.parse(record.createdAt);
  const elapsed = Number.isNaN(since) ? '' : `, ${formatElapsed(now - since)} elapsed`;
  const job = record.jobId === undefined ? '' : `Job ${record.jobId}: `;
  return `${job}${describeSession(record, now)}${elapsed}`;
}

function summarizeNodes(nodes: readonly string[]): string {
  if (nodes.length <= 3) return nodes.join(', ');
  return `${nodes.slice(0, 2).join(', ')} and ${nodes.length - 2} more`;
}

/** A multi-line summary for tooltips. */
export function sessionTooltip(record: SessionRecord, now: number): string {
  const lines = [record.title, `Session ${record.id} on ${record.cluster}`];
  if (record.jobId !== undefined) lines.push(`Job ${record.jobId} (${record.jobName})`);
  lines.push(`State: ${describeSession(record, now)}`);
  if (record.nodes !== undefined && record.nodes.length > 0)
    lines.push(`Nodes: ${record.nodes.join(', ')}`);
  if (record.profile !== undefined) lines.push(`Profile: ${record.profile}`);
  const end = walltimeEnd(record);
  if (end !== undefined) {
    const at = formatClock(new Date(end).toISOString(), now);
    if (at !== undefined) lines.push(`Walltime ends at ${at}`);
  }
  if (record.discovered === true) lines.push('Found on the cluster: not started from here.');
  return lines.join('\n');
}
