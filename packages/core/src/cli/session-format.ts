/** How the CLI shows sessions: one live line while waiting, a table for `list`, details. */
import type { SessionRecord } from '../sessions/types.js';
import { formatElapsed } from './format.js';

export function sessionLine(s: SessionRecord, now: Date = new Date()): string {
  const job = s.jobId === undefined ? '' : `job ${s.jobId} `;
  const reason =
    s.reason !== undefined && s.reason !== '' && s.state !== 'ready' ? ` (${s.reason})` : '';
  const parts = [`${job}on ${s.cluster}: ${s.state.toUpperCase()}${reason}`];
  if (s.state === 'queued' && s.expectedStart !== undefined) {
    parts.push(`expected start ${new Date(s.expectedStart).toLocaleTimeString()}`);
  }
  if (
    s.nodes !== undefined &&
    s.nodes.length > 0 &&
    (s.state === 'starting' || s.state === 'ready')
  ) {
    parts.push(`on ${s.nodes.join(',')}`);
  }
  parts.push(`${formatElapsed(now.getTime() - Date.parse(s.createdAt))} elapsed`);
  const left = timeLeft(s, now);
  if (left !== undefined) parts.push(`${left} left`);
  return parts.join(', ');
}

/** Walltime left of a running session, "h:mm". */
export function timeLeft(s: SessionRecord, now: Date = new Date()): string | undefined {
  if (s.startedAt === undefined || s.timeLimitMinutes === undefined || s.endedAt !== undefined)
    return undefined;
  const end = Date.parse(s.startedAt) + s.timeLimitMinutes * 60_000;
  const minutes = Math.max(0, Math.floor((end - now.getTime()) / 60_000));
  return `${Math.floor(minutes / 60)}:${(minutes % 60).toString().padStart(2, '0')}`;
}

export function sessionDetails(s: SessionRecord): string {
  const rows: [string, string | undefined][] = [
    ['id', s.id],
    ['title', s.title],
    ['cluster', s.cluster],
    ['template', s.template],
    ['profile', s.profile],
    ['state', s.state],
    ['reason', s.reason],
    ['job', s.jobId],
    ['job name', s.jobName],
    ['nodes', s.nodes?.join(', ')],
    ['created', s.createdAt],
    ['expected start', s.expectedStart],
    ['started', s.startedAt],
    ['ready', s.readyAt],
    ['ended', s.endedAt],
    ['time left', timeLeft(s)],
    ['exit code', s.exitCode?.toString()],
    ['session dir', s.sessionDir],
    [
      'parameters',
      Object.entries(s.params)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(' '),
    ],
    [
      'discovered',
      s.discovered === true ? 'yes: `hpc-jupyter adopt` or `hpc-jupyter stop` it' : undefined,
    ],
  ];
  const lines = rows
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${`${k}:`.padEnd(16)}${v ?? ''}`);
  if (s.logTail !== undefined && s.logTail !== '') lines.push('', 'log tail:', s.logTail);
  return `${lines.join('\n')}\n`;
}
