/**
 * What the launcher tells the notebook, in words: the waiting message that updates in place
 * while the job queues ("Waiting for Slurm job 1234 on testlab: PENDING (Resources), expected
 * start 12:03, 0:42 elapsed"), the warning before the walltime, and why the kernel is gone. Pure
 * functions of a session record and the time, so they are tested without a cluster.
 */
import type { SessionRecord } from '../sessions/types.js';

/** Where the launcher is, as far as the notebook cares. */
export type WaitPhase = 'submitting' | 'waiting' | 'connecting' | 'restarting';

export interface WaitView {
  readonly phase: WaitPhase;
  readonly cluster: string;
  /** The cluster's scheduler kind: "slurm", "pbs", "local"... */
  readonly scheduler: string;
  readonly record?: SessionRecord;
  /** When the wait began (submission, or the restart). */
  readonly since: Date;
  /** An SSH prompt for the cluster nobody answered yet: the submission waits for it. */
  readonly prompt?: string;
}

const SCHEDULER_NAMES: Readonly<Record<string, string>> = {
  slurm: 'Slurm',
  pbs: 'PBS',
  lsf: 'LSF',
  htcondor: 'HTCondor',
  local: 'local',
};

/** "Slurm job 1234", or "the Slurm job" before it has an id. */
export function jobLabel(scheduler: string, record?: SessionRecord): string {
  const name = SCHEDULER_NAMES[scheduler] ?? (scheduler === '' ? 'batch' : scheduler);
  return record?.jobId === undefined ? `the ${name} job` : `${name} job ${record.jobId}`;
}

/** m:ss below an hour, h:mm:ss above. */
export function formatElapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** HH:MM today (local time), else YYYY-MM-DD HH:MM. */
export function formatClock(at: Date, now: Date): string {
  const hhmm = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
  const sameDay =
    at.getFullYear() === now.getFullYear() &&
    at.getMonth() === now.getMonth() &&
    at.getDate() === now.getDate();
  return sameDay
    ? hhmm
    : `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${hhmm}`;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** The native word for "waiting in the queue" where users know one. */
function queuedWord(scheduler: string): string {
  return scheduler === 'slurm' ? 'PENDING' : 'queued';
}

export function waitingText(view: WaitView, now: Date): string {
  const text = stateText(view, now);
  if (view.prompt === undefined) return text;
  return (
    `${text}. The agent waits for an answer to an SSH prompt for ${view.cluster} ` +
    `(${JSON.stringify(view.prompt)}): answer it in the HPC panel of JupyterLab or VS Code, ` +
    'or run `hpc-jupyter list` in a terminal'
  );
}

function stateText(view: WaitView, now: Date): string {
  const { record, cluster, scheduler } = view;
  const elapsed = `${formatElapsed(now.getTime() - view.since.getTime())} elapsed`;
  const job = jobLabel(scheduler, record);
  const node = record?.connection?.node ?? record?.nodes?.[0];
  const where = node === undefined ? `on ${cluster}` : `on ${node}`;
  if (view.phase === 'restarting') {
    return `Restarting the kernel in ${job} ${where}, ${elapsed}`;
  }
  if (view.phase === 'submitting' || record === undefined || record.jobId === undefined) {
    return `Submitting ${job}${cluster === '' ? '' : ` to ${cluster}`}, ${elapsed}`;
  }
  switch (record.state) {
    case 'queued': {
      const reason = record.reason === undefined ? '' : ` (${record.reason})`;
      const start =
        record.expectedStart === undefined
          ? ''
          : `, expected start ${formatClock(new Date(record.expectedStart), now)}`;
      return `Waiting for ${job} on ${cluster}: ${queuedWord(scheduler)}${reason}${start}, ${elapsed}`;
    }
    case 'starting':
      return `${job} is running ${where}: starting the kernel, ${elapsed}`;
    case 'ready':
      return `${job} is running ${where}: connecting to the kernel, ${elapsed}`;
    case 'unknown':
      return `Waiting for ${job} on ${cluster}: its state is unknown for now (${record.reason ?? 'the scheduler did not answer'}), ${elapsed}`;
    default:
      return `Waiting for ${job} on ${cluster}: ${record.state}, ${elapsed}`;
  }
}

/** What replaces the waiting message once the request goes to the kernel. */
export function startedText(view: WaitView, now: Date): string {
  const { record } = view;
  const node = record?.connection?.node ?? record?.nodes?.[0];
  const job = jobLabel(view.scheduler, record);
  const waited = formatElapsed(now.getTime() - view.since.getTime());
  if (view.phase === 'restarting') {
    return `The kernel restarted in ${job}${node === undefined ? '' : ` on ${node}`} (${waited}).`;
  }
  return `Running in ${job}${node === undefined ? '' : ` on ${node}`} (waited ${waited}).`;
}

/** When the job's time is up, from when it started and its limit; undefined if not known. */
export function walltimeEnd(record: SessionRecord): Date | undefined {
  if (record.startedAt === undefined || record.timeLimitMinutes === undefined) return undefined;
  const started = Date.parse(record.startedAt);
  if (Number.isNaN(started)) return undefined;
  return new Date(started + record.timeLimitMinutes * 60_000);
}

/** How long before the end to warn: 10 minutes, or a quarter of a short limit. */
export function warningLeadMs(record: SessionRecord): number {
  const limit = (record.timeLimitMinutes ?? 0) * 60_000;
  return Math.min(10 * 60_000, limit / 4);
}

export function walltimeWarningText(
  scheduler: string,
  record: SessionRecord,
  end: Date,
  now: Date,
): string {
  const minutes = Math.max(1, Math.round((end.getTime() - now.getTime()) / 60_000));
  return (
    `hpc-jupyter: ${jobLabel(scheduler, record)} reaches its time limit at ` +
    `${formatClock(end, now)} (in ${minutes} minute${minutes === 1 ? '' : 's'}). ` +
    'The kernel and everything in it stop then: save what you need.\n'
  );
}

export function jobEndedText(scheduler: string, record: SessionRecord): string {
  const why = record.reason === undefined ? record.state : `${record.state}: ${record.reason}`;
  return (
    `hpc-jupyter: ${jobLabel(scheduler, record)} on ${record.cluster} has ended (${why}). ` +
    'This kernel is gone; restart it to run in a new job.\n'
  );
}

export function kernelDiedText(scheduler: string, record: SessionRecord | undefined): string {
  const node = record?.connection?.node ?? record?.nodes?.[0];
  return (
    `hpc-jupyter: the kernel${node === undefined ? '' : ` on ${node}`} ` +
    `(${jobLabel(scheduler, record)}) died or stopped answering. Its variables are lost. ` +
    'Restart the kernel: it starts again in the same job.\n'
  );
}

/** The way to the kernel went silent (network, SSH): it is not taken for dead. */
export function disconnectedText(scheduler: string, record: SessionRecord | undefined): string {
  return (
    `hpc-jupyter: lost the connection to the kernel (${jobLabel(scheduler, record)}): the ` +
    'network or the SSH connection is down. The kernel keeps running in its job and keeps its ' +
    'variables; hpc-jupyter reconnects by itself when the network is back, and the output ' +
    'comes then.\n'
  );
}

/** The same kernel answers again after a silence. */
export function reconnectedText(seconds: number): string {
  return `hpc-jupyter: reconnected to the kernel after ${seconds.toFixed(0)} s; it kept its variables.\n`;
}
