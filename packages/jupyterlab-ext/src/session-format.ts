/**
 * What a session card says, as plain strings: the state chip, queue reason and expected start,
 * elapsed and remaining walltime, nodes, and which actions apply. Pure, so it is tested in Node.
 */
import { hasEnded, type SessionRecord, type SessionState } from './agent-types.js';

export type ChipTone = 'pending' | 'running' | 'ok' | 'ended' | 'bad';

const TONES: Record<SessionState, ChipTone> = {
  submitting: 'pending',
  queued: 'pending',
  starting: 'running',
  ready: 'ok',
  stopping: 'running',
  completed: 'ended',
  cancelled: 'ended',
  failed: 'bad',
  'timed-out': 'bad',
  unknown: 'bad',
};

export function chipTone(state: SessionState): ChipTone {
  return TONES[state];
}

/** "1h 05m", "4m 10s", "12s". */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

export interface CardLines {
  /** e.g. "Priority, expected start 14:05" while queued. */
  readonly waiting?: string;
  /** "elapsed 4m 10s, 55m 50s left" while the job runs. */
  readonly time?: string;
  readonly nodes?: string;
  /** Why it ended badly, or what went wrong while unknown. */
  readonly problem?: string;
}

export function cardLines(s: SessionRecord, now: number): CardLines {
  const out: { -readonly [K in keyof CardLines]: CardLines[K] } = {};
  if (s.state === 'queued' || s.state === 'submitting') {
    const parts: string[] = [];
    if (s.reason !== undefined && s.reason !== '') parts.push(s.reason);
    if (s.expectedStart !== undefined) {
      parts.push(`expected start ${new Date(s.expectedStart).toLocaleTimeString()}`);
    }
    if (parts.length > 0) out.waiting = parts.join(', ');
  }
  if (s.startedAt !== undefined && !hasEnded(s.state)) {
    const elapsed = now - Date.parse(s.startedAt);
    let time = `elapsed ${formatDuration(elapsed)}`;
    if (s.timeLimitMinutes !== undefined) {
      time += `, ${formatDuration(s.timeLimitMinutes * 60_000 - elapsed)} left`;
    }
    out.time = time;
  } else if (s.startedAt !== undefined && s.endedAt !== undefined) {
    out.time = `ran ${formatDuration(Date.parse(s.endedAt) - Date.parse(s.startedAt))}`;
  }
  if (s.nodes !== undefined && s.nodes.length > 0) {
    out.nodes = `${s.nodes.length} node${s.nodes.length === 1 ? '' : 's'}: ${s.nodes.join(', ')}`;
  }
  if ((s.state === 'failed' || s.state === 'unknown' || s.state === 'timed-out') && s.reason) {
    out.problem = s.reason;
  }
  return out;
}

export interface CardActions {
  readonly open: boolean;
  readonly logs: boolean;
  readonly stop: boolean;
  readonly relaunch: boolean;
}

export function cardActions(s: SessionRecord): CardActions {
  const ended = hasEnded(s.state);
  return {
    open: s.state === 'ready' && s.connection?.endpoints.some((e) => e.name === 'jupyter') === true,
    logs: s.jobId !== undefined,
    stop: !ended && s.state !== 'stopping',
    relaunch: ended,
  };
}
