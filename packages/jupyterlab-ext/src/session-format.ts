/**
 * What a session card says, as plain strings: the state chip, queue reason and expected start,
 * elapsed and remaining walltime, nodes, which actions apply, and what scaling a Dask or
 * ipyparallel cluster asks of the agent. Pure, so it is tested in Node.
 */
import {
  hasEnded,
  type AccessResponse,
  type ParamValue,
  type SessionRecord,
  type SessionState,
} from './agent-types.js';

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
    out.nodes = `${nodesText(s.nodes.length)}: ${s.nodes.join(', ')}`;
  }
  if ((s.state === 'failed' || s.state === 'unknown' || s.state === 'timed-out') && s.reason) {
    out.problem = s.reason;
  }
  return out;
}

/** "1 node", "4 nodes". */
export function nodesText(n: number): string {
  return `${n} node${n === 1 ? '' : 's'}`;
}

export interface CardActions {
  readonly open: boolean;
  /** The session's web UIs, once it is ready. */
  readonly dashboards: readonly Dashboard[];
  /** Whether client code for it can go into a notebook (a ready Dask or ipyparallel session). */
  readonly insertClient: boolean;
  /** What Copy puts on the clipboard: the client code, or the URL that opens the Jupyter server. */
  readonly copy?: 'client-code' | 'url';
  /** A ready Dask or ipyparallel session: extra worker jobs can be added to it or stopped again. */
  readonly scale: boolean;
  readonly logs: boolean;
  readonly stop: boolean;
  readonly relaunch: boolean;
}

export function cardActions(s: SessionRecord): CardActions {
  const ended = hasEnded(s.state);
  const open =
    s.state === 'ready' && s.connection?.endpoints.some((e) => e.name === 'jupyter') === true;
  const insertClient = clientCode(s) !== undefined;
  return {
    open,
    dashboards: dashboards(s),
    insertClient,
    ...(insertClient ? { copy: 'client-code' } : open ? { copy: 'url' } : {}),
    scale: scalingOf(s) !== undefined && s.state === 'ready',
    logs: s.jobId !== undefined,
    stop: !ended && s.state !== 'stopping',
    relaunch: ended,
  };
}

/**
 * Where a Jupyter server session opens: its JupyterLab through the agent's loopback tunnel, with
 * the token in the query (the tunnel has no other authentication in front of it).
 */
export function accessPageUrl(access: AccessResponse): string {
  const token = access.token === undefined ? '' : `?token=${encodeURIComponent(access.token)}`;
  return `${access.url}lab${token}`;
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
  if (kind !== 'dask' && kind !== 'ipyparallel' && kind !== 'spark') return undefined;
  // A Spark cluster takes clients from outside its job only through a Spark Connect server.
  if (kind === 'spark' && !(s.connection?.endpoints ?? []).some((e) => e.name === 'connect')) {
    return undefined;
  }
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
const CLIENT_VARIABLES = { dask: 'client', ipyparallel: 'rc', spark: 'spark' } as const;

/**
 * What extra jobs copy from the session they join, so they look like its own (and fit where they
 * fit): where they run, for how long, and each node's size.
 */
const PLACEMENT = ['partition', 'account', 'qos', 'hours', 'cpusPerTask', 'memoryGiB'] as const;

/** What extra Dask workers copy: the placement and the workers' per-node shape. */
export const WORKER_SHAPE = [...PLACEMENT, 'workersPerNode', 'threadsPerWorker'] as const;

/** The same for extra engines of an ipyparallel session (the ipyparallel manifest's shape). */
export const ENGINE_SHAPE = [...PLACEMENT, 'enginesPerNode'] as const;

/** How a cluster of one engine grows and shrinks: by extra jobs of another template. */
export interface Scaling {
  /** The template of the extra jobs, whose `cluster` parameter names the session they join. */
  readonly template: string;
  /** The parameters the extra jobs copy from the session. */
  readonly shape: readonly string[];
  /** "Dask", "ipyparallel": whose session it is, for the card. */
  readonly engine: string;
  /** What runs on the nodes, plural and singular: "workers", "worker". */
  readonly noun: string;
  readonly one: string;
}

/** The sessions that scale, by template (as `%cluster scale N` in hpc_jupyter/magics.py). */
export const SCALING: Readonly<Record<string, Scaling>> = {
  dask: {
    template: 'dask-workers',
    shape: WORKER_SHAPE,
    engine: 'Dask',
    noun: 'workers',
    one: 'worker',
  },
  ipyparallel: {
    template: 'ipyparallel-engines',
    shape: ENGINE_SHAPE,
    engine: 'ipyparallel',
    noun: 'engines',
    one: 'engine',
  },
};

/** How the session scales, or undefined when it does not. */
export function scalingOf(s: SessionRecord): Scaling | undefined {
  return Object.hasOwn(SCALING, s.template) ? SCALING[s.template] : undefined;
}

/** What scaling a Dask or ipyparallel cluster asks of the agent. */
export interface ScalePlan {
  /** The template of the one extra session to start (`dask-workers`, `ipyparallel-engines`). */
  readonly template?: string;
  /** Parameters of that session, on the cluster of the session it joins. */
  readonly start?: Readonly<Record<string, ParamValue>>;
  /** Extra sessions to stop, newest first. */
  readonly stop: readonly string[];
  /** What was asked of the agent, for the card to say. */
  readonly summary: string;
  /** Why the cluster will not have exactly N nodes, or that it already has. */
  readonly note?: string;
}

/** The live extra sessions (`dask-workers`, `ipyparallel-engines`) that joined `base`. */
export function extraWorkers(base: SessionRecord, all: readonly SessionRecord[]): SessionRecord[] {
  const template = scalingOf(base)?.template;
  return all.filter(
    (r) =>
      r.template === template &&
      r.params['cluster'] === base.id &&
      !hasEnded(r.state) &&
      r.state !== 'stopping',
  );
}

/** Nodes running workers or engines of `base`: its own and its extra sessions'. */
export function workerNodes(base: SessionRecord, all: readonly SessionRecord[]): number {
  return extraWorkers(base, all).reduce((n, r) => n + paramNodes(r), ownNodes(base));
}

/**
 * Scaling the Dask or ipyparallel session `base` to `target` nodes of workers (engines), as
 * `%cluster scale N` does it (hpc_jupyter/magics.py), so the sidebar and the magic agree: up by
 * one extra session for the missing nodes, down by stopping the newest extra sessions while that
 * keeps at least `target` nodes. The session's own nodes stay: its job runs the scheduler (or
 * controller) too.
 */
export function scalePlan(
  base: SessionRecord,
  all: readonly SessionRecord[],
  target: number,
): ScalePlan {
  const scaling = scalingOf(base);
  if (scaling === undefined) {
    return { stop: [], summary: '', note: `A ${base.template} session does not scale.` };
  }
  const { noun, one } = scaling;
  const extra = extraWorkers(base, all);
  let total = workerNodes(base, all);
  if (target > total) {
    const nodes = target - total;
    const shape = Object.fromEntries(
      scaling.shape.filter((k) => base.params[k] !== undefined).map((k) => [k, base.params[k]]),
    );
    return {
      template: scaling.template,
      start: { cluster: base.id, nodes, ...shape },
      stop: [],
      summary: `Adding ${nodesText(nodes)} of ${noun} in a new job.`,
    };
  }
  if (target === total) {
    return { stop: [], summary: '', note: `Already ${nodesText(total)} of ${noun}.` };
  }
  const stop: string[] = [];
  // Newest first; a session too big to go is skipped and an older, smaller one may still go.
  for (const r of [...extra].sort((a, b) => b.createdAt.localeCompare(a.createdAt))) {
    const n = paramNodes(r);
    if (total - n < target) continue;
    stop.push(r.id);
    total -= n;
  }
  const summary =
    stop.length === 0 ? '' : `Stopping ${stop.length} ${one} job${stop.length === 1 ? '' : 's'}.`;
  if (total === target) return { stop, summary };
  const own = ownNodes(base);
  const why =
    target < own
      ? `the ${scaling.engine} session's own ${nodesText(own)} cannot go`
      : `extra ${one} jobs stop whole`;
  return { stop, summary, note: `${nodesText(total)} of ${noun} remain: ${why}.` };
}

/** The node count typed into the scale control, or what is wrong with it. */
export function parseNodeCount(text: string): { nodes: number } | { error: string } {
  const t = text.trim();
  const nodes = Number(t);
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(nodes) || nodes < 1) {
    return { error: 'Enter a whole number of nodes, at least 1.' };
  }
  return { nodes };
}

/** A session's own nodes: where its job runs, else as many as it asked for. */
function ownNodes(s: SessionRecord): number {
  return s.nodes !== undefined && s.nodes.length > 0 ? s.nodes.length : paramNodes(s);
}

/** The nodes a session asked for (its `nodes` parameter, 1 when unset). */
function paramNodes(s: SessionRecord): number {
  const n = Number(s.params['nodes'] ?? 1);
  return Number.isFinite(n) && n >= 1 ? Math.trunc(n) : 1;
}
