/**
 * The one table from PBS Pro/OpenPBS and Torque job states (`job_state`, one letter) onto our
 * JobState, and how a finished job's exit status refines `completed`. Anything not in the table is
 * `unknown`, never a final state.
 */

import type { JobState } from '../types.js';

/**
 * Choices that are not obvious from the letters:
 * - H (held), W (waiting for its start time), T (transit), S and U (suspended) -> queued: the job
 *   does not execute now and will again only later; the reason (comment) says why.
 * - R and B (an array job that has begun) -> starting: the session layer calls it ready once the
 *   job writes its connection file.
 * - E (exiting) -> stopping: the end state is not known yet.
 * - F (PBS Pro, finished, with -x), X (a finished subjob) and C (Torque, completed) ->
 *   completed, which `finishedState` then refines from Exit_status: a non-zero status is failed,
 *   a walltime kill timed-out, a deleted job cancelled.
 * - M (moved to another server) -> unknown: this server no longer knows how the job fares.
 */
export const PBS_STATE_MAP: Readonly<Record<string, JobState>> = Object.freeze({
  Q: 'queued',
  H: 'queued',
  W: 'queued',
  T: 'queued',
  S: 'queued',
  U: 'queued',
  R: 'starting',
  B: 'starting',
  E: 'stopping',
  F: 'completed',
  X: 'completed',
  C: 'completed',
  M: 'unknown',
});

/** Words for the letters, for reasons and messages. */
export const PBS_STATE_NAMES: Readonly<Record<string, string>> = Object.freeze({
  Q: 'queued',
  H: 'held',
  W: 'waiting for its start time',
  T: 'in transit',
  S: 'suspended',
  U: 'suspended (workstation busy)',
  R: 'running',
  B: 'array job begun',
  E: 'exiting',
  F: 'finished',
  X: 'finished subjob',
  C: 'completed',
  M: 'moved to another server',
});

export function mapPbsState(native: string): JobState {
  const key = native.trim().toUpperCase();
  return Object.hasOwn(PBS_STATE_MAP, key) ? (PBS_STATE_MAP[key] ?? 'unknown') : 'unknown';
}

/**
 * The exit status each server sets when it kills a job for its walltime: PBS Pro/OpenPBS
 * JOB_EXEC_KILL_WALLTIME, Torque JOB_EXEC_OVERLIMIT_WT (where -11 means something else in PBS Pro).
 */
const WALLTIME_KILL = { pbspro: -29, torque: -11 } as const;

export interface Finished {
  readonly state: JobState;
  readonly exitCode?: number;
  readonly exitSignal?: number;
}

/**
 * A finished job's state from its exit status and comment. Statuses above 256 are 256 + the
 * signal that ended the job; negative ones are the server's own JOB_EXEC_* codes (the job never
 * ran properly). A finished job with no exit status at all was deleted before it ran when the
 * comment says so, and is otherwise unknown: silence is not success.
 */
export function finishedState(
  exitStatus: number | undefined,
  comment: string | undefined,
  flavor: 'pbspro' | 'torque',
): Finished {
  const deleted = /delet|qdel/i.test(comment ?? '');
  const walltime = /walltime/i.test(comment ?? '') && /exceed|limit|kill/i.test(comment ?? '');
  if (exitStatus === undefined) return { state: deleted ? 'cancelled' : 'unknown' };
  if (exitStatus === 0) return { state: 'completed', exitCode: 0 };
  if (exitStatus === WALLTIME_KILL[flavor]) return { state: 'timed-out' };
  if (exitStatus > 256) {
    const exitSignal = exitStatus - 256;
    if (walltime) return { state: 'timed-out', exitSignal };
    return { state: deleted ? 'cancelled' : 'failed', exitSignal };
  }
  if (exitStatus < 0) return { state: walltime ? 'timed-out' : 'failed' };
  return { state: 'failed', exitCode: exitStatus };
}
