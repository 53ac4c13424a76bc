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
  /** The session's web UIs, once it is ready. */
  readonly dashboards: readonly Dashboard[];
  /** Whether client code for it can go into a notebook (a ready Dask or ipyparallel session). */
  readonly insertClient: boolean;
  readonly logs: boolean;
  readonly stop: boolean;
  readonly relaunch: boolean;
}

export function cardActions(s: SessionRecord): CardActions {
  const ended = hasEnded(s.state);
  return {
    open: s.state === 'ready' && s.connection?.endpoints.some((e) => e.name === 'jupyter') === true,
    dashboards: dashboards(s),
    insertClient: clientCode(s) !== undefined,
    logs: s.jobId !== undefined,
    stop: !ended && s.state !== 'stopping',
    relaunch: ended,
  };
}

/** A web UI of a session, reached through the agent's endpoint proxy. */
export interface Dashboard {
  /** The endpoint's name in connection.json, e.g. "dashboard". */
  readonly endpoint: string;
  /** What the button and the panel say, e.g. "Dask dashboard". */
  readonly label: string;
  /** Where to open it, from the endpoint's root, e.g. "/status". */
  readonly path: string;
}

/** The endpoints that are web UIs, by name, and what to call them. */
const WEB_UIS: Readonly<Record<string, string>> = {
  dashboard: 'Dask dashboard',
  'master-ui': 'Spark master UI',
  'app-ui': 'Spark application UI',
};

/** The web UIs of a ready session, in the order its job published them. */
export function dashboards(s: SessionRecord): Dashboard[] {
  if (s.state !== 'ready') return [];
  const out: Dashboard[] = [];
  for (const e of s.connection?.endpoints ?? []) {
    const known = WEB_UIS[e.name];
    if (known === undefined) continue;
    const label = e.name === 'dashboard' && s.connection?.kind !== 'dask' ? 'Dashboard' : known;
    out.push({ endpoint: e.name, label, path: e.basePath ?? '/' });
  }
  return out;
}

/**
 * Python for a notebook on this machine that connects a client to the session's engine through
 * the agent (hpc_jupyter.client: local forwards, the job's TLS files or client file copied into
 * a private directory), or undefined when the session has no engine a client can attach to.
 * The session id is the only value in the code, and it is checked to be an id.
 */
export function clientCode(s: SessionRecord): string | undefined {
  if (s.state !== 'ready' || !/^[A-Za-z0-9_-]{1,64}$/.test(s.id)) return undefined;
  const kind = s.connection?.kind ?? s.template;
  if (kind !== 'dask' && kind !== 'ipyparallel') return undefined;
  const variable = CLIENT_VARIABLES[kind];
  return [
    `# ${s.title.replace(/[\r\n]+/g, ' ')}: \`${variable}\` through the hpc-jupyter agent`,
    `from hpc_jupyter.client import ${kind} as hpc_${kind}`,
    '',
    `${variable} = hpc_${kind}("${s.id}")`,
    variable,
  ].join('\n');
}

/** The name a client of each engine has in a notebook, as the kernels in the jobs call it. */
const CLIENT_VARIABLES = { dask: 'client', ipyparallel: 'rc' } as const;
