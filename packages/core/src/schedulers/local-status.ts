/**
 * How the local scheduler's records and process liveness become a JobStatus: one pure function
 * and one table from our native state names onto the session states, like the other adapters.
 */

import { constants } from 'node:os';
import type { JobSnapshot, LocalFinalState } from './local-store.js';
import type { JobState, JobStatus } from './types.js';

/** Native state names of the local scheduler (shown as `nativeState`), Slurm-like on purpose. */
export type LocalNativeState =
  | 'PENDING'
  | 'RUNNING'
  | 'CANCELLING'
  | 'COMPLETED'
  | 'FAILED'
  | 'CANCELLED'
  | 'TIMEOUT'
  | 'LOST'
  | 'UNKNOWN';

export const LOCAL_STATE_MAP: Readonly<Record<LocalNativeState, JobState>> = {
  PENDING: 'queued',
  RUNNING: 'starting',
  CANCELLING: 'stopping',
  COMPLETED: 'completed',
  FAILED: 'failed',
  CANCELLED: 'cancelled',
  TIMEOUT: 'timed-out',
  // The supervisor died without recording the end: the job is over, and we cannot say it worked.
  LOST: 'failed',
  UNKNOWN: 'unknown',
};

const FINAL_NATIVE: Readonly<Record<LocalFinalState, LocalNativeState>> = {
  completed: 'COMPLETED',
  failed: 'FAILED',
  cancelled: 'CANCELLED',
  'timed-out': 'TIMEOUT',
};

/**
 * A job directory with no supervisor recorded is a submission still in progress for this long;
 * after it, the submission must have died half-way.
 */
export const SUBMIT_GRACE_MS = 60_000;

export interface Liveness {
  /** The supervisor recorded in supervisor.json is the running process. */
  readonly supervisor: boolean;
  /** The job script recorded in started.json is the running process. */
  readonly job: boolean;
}

export function unknownJob(id: string, reason = 'no such job'): JobStatus {
  return { id, state: 'unknown', nativeState: 'UNKNOWN', reason };
}

/** The status of one job from what its directory says and which of its processes are alive. */
export function localJobStatus(
  snap: JobSnapshot,
  alive: Liveness,
  hostname: string,
  now: number,
): JobStatus {
  const { job, started, exit } = snap;
  if (job === undefined) return unknownJob(snap.id);
  const common = {
    id: snap.id,
    name: job.name,
    submitTime: new Date(job.submitTime),
    ...(job.resources.walltimeMinutes === undefined
      ? {}
      : { timeLimitMinutes: job.resources.walltimeMinutes }),
    ...(started === undefined ? {} : { startTime: new Date(started.startTime) }),
  };
  const status = (native: LocalNativeState, reason?: string): JobStatus => ({
    ...common,
    state: LOCAL_STATE_MAP[native],
    nativeState: native,
    ...(reason === undefined ? {} : { reason }),
    ...(native === 'PENDING' ? {} : { nodes: [hostname] }),
  });

  if (exit !== undefined) {
    const signal = exit.signal === null ? undefined : signalNumber(exit.signal);
    return {
      ...status(FINAL_NATIVE[exit.state], exit.reason),
      endTime: new Date(exit.endTime),
      ...(exit.code === null ? {} : { exitCode: exit.code }),
      ...(signal === undefined ? {} : { exitSignal: signal }),
    };
  }
  const cancelling = snap.cancel !== undefined;
  if (alive.supervisor) {
    if (cancelling) return status('CANCELLING');
    return started === undefined ? status('PENDING') : status('RUNNING');
  }
  if (snap.supervisor === undefined) {
    if (cancelling) return status('CANCELLED', 'cancelled before it started');
    if (now - Date.parse(job.submitTime) < SUBMIT_GRACE_MS) return status('PENDING');
    return status('LOST', 'the job never started: its submission did not finish');
  }
  if (alive.job) {
    // Rare: the supervisor was killed on its own. The job runs on, unguarded.
    const reason = 'its supervisor is gone, so the walltime is no longer enforced';
    return status(cancelling ? 'CANCELLING' : 'RUNNING', reason);
  }
  if (cancelling) return status('CANCELLED', 'cancelled');
  return status(
    'LOST',
    'the job supervisor ended without recording how the job ended ' +
      '(it was killed, or the machine restarted); see supervisor.log in the job directory',
  );
}

function signalNumber(name: string): number | undefined {
  return (constants.signals as Record<string, number | undefined>)[name];
}
