/** Human formats for durations and job states, shared by the CLI commands. */
import type { JobStatus } from '../schedulers/types.js';

export function formatMinutes(minutes: number): string {
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = Math.round(minutes % 60);
  const hhmm = `${hours}:${mins.toString().padStart(2, '0')}`;
  return days > 0 ? `${days}-${hhmm.padStart(5, '0')}` : hhmm;
}

export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const mm = Math.floor(s / 60);
  return `${mm}:${(s % 60).toString().padStart(2, '0')}`;
}

/** One line for a job: "queued (Resources), expected start 12:03" / "running on node1,node2". */
export function describeJob(status: JobStatus): string {
  const parts: string[] = [status.state === 'starting' ? 'running' : status.state];
  if (status.reason !== undefined && status.reason !== '' && status.reason !== 'None') {
    parts[0] = `${parts[0] ?? ''} (${status.reason})`;
  }
  if (status.state === 'queued' && status.expectedStart !== undefined) {
    parts.push(`expected start ${status.expectedStart.toLocaleTimeString()}`);
  }
  if (status.nodes !== undefined && status.nodes.length > 0 && status.state === 'starting') {
    parts.push(`on ${status.nodes.join(',')}`);
  }
  const saysExit = status.reason?.includes('exit code') === true;
  if (
    status.exitCode !== undefined &&
    !saysExit &&
    status.state !== 'queued' &&
    status.state !== 'starting'
  ) {
    parts.push(`exit code ${status.exitCode}`);
  }
  return parts.join(', ');
}
