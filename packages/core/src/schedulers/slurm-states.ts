/**
 * The one table from Slurm job states onto our JobState. Squeue `%T` and sacct `State` print the
 * long names, squeue `%t` the short codes; both are here so either output can be read. Anything
 * not in the table is `unknown` (never a final state), with the native name kept by the caller.
 */

import type { JobState } from './types.js';

/**
 * Choices that are not obvious from the names:
 * - RUNNING, CONFIGURING, POWER_UP_NODE -> starting: the job holds its allocation (CONFIGURING
 *   while the nodes boot). The session layer only calls it ready once the job has written its
 *   connection file, so a job whose script has not begun yet is safe here, and the user sees that
 *   resources were granted.
 * - SUSPENDED, STOPPED -> queued: the job has an allocation but does not execute, so its services
 *   cannot answer; "queued" with the state as reason says "waiting, will resume". It must not be
 *   final, and `starting` would have clients time out against frozen processes.
 * - Held and requeued jobs (REQUEUED, REQUEUE_FED, REQUEUE_HOLD, SPECIAL_EXIT, RESV_DEL_HOLD) ->
 *   queued: they will pend again; squeue's reason says why (JobHeldUser, ...).
 * - COMPLETING, STAGE_OUT -> stopping: processes are being torn down or files staged out; the end
 *   state is not known yet.
 * - NODE_FAIL, BOOT_FAIL, PREEMPTED, OUT_OF_MEMORY -> failed: ended by something other than the user
 *   or the time limit. DEADLINE -> timed-out: ended by a time bound.
 * - REVOKED -> unknown: a federation sibling that was withdrawn because another cluster started the
 *   job; this cluster cannot tell how the job fares there.
 * - UPDATE_DB -> unknown: a bookkeeping flag (start record being resent) that says nothing about
 *   whether the job runs.
 */
export const SLURM_STATE_MAP: Readonly<Record<string, JobState>> = Object.freeze({
  // Long names (squeue %T, sacct State).
  PENDING: 'queued',
  RUNNING: 'starting',
  SUSPENDED: 'queued',
  COMPLETING: 'stopping',
  COMPLETED: 'completed',
  CANCELLED: 'cancelled',
  FAILED: 'failed',
  TIMEOUT: 'timed-out',
  NODE_FAIL: 'failed',
  PREEMPTED: 'failed',
  BOOT_FAIL: 'failed',
  DEADLINE: 'timed-out',
  OUT_OF_MEMORY: 'failed',
  REQUEUED: 'queued',
  REQUEUE_FED: 'queued',
  REQUEUE_HOLD: 'queued',
  RESIZING: 'starting',
  REVOKED: 'unknown',
  SIGNALING: 'starting',
  SPECIAL_EXIT: 'queued',
  STAGE_OUT: 'stopping',
  STOPPED: 'queued',
  CONFIGURING: 'starting',
  RESV_DEL_HOLD: 'queued',
  POWER_UP_NODE: 'starting',
  UPDATE_DB: 'unknown',
  // Short codes (squeue %t).
  PD: 'queued',
  R: 'starting',
  S: 'queued',
  CG: 'stopping',
  CD: 'completed',
  CA: 'cancelled',
  F: 'failed',
  TO: 'timed-out',
  NF: 'failed',
  PR: 'failed',
  BF: 'failed',
  DL: 'timed-out',
  OOM: 'failed',
  RQ: 'queued',
  RF: 'queued',
  RH: 'queued',
  RS: 'starting',
  RV: 'unknown',
  SI: 'starting',
  SE: 'queued',
  SO: 'stopping',
  ST: 'queued',
  CF: 'starting',
  RD: 'queued',
});

/** Native states in which the job holds an allocation that is not executing. */
const PAUSED_STATES: ReadonlySet<string> = new Set(['SUSPENDED', 'STOPPED', 'S', 'ST']);

/**
 * The state as it appears in the table: sacct's "CANCELLED by 1000" becomes "CANCELLED", a
 * truncated "CANCELLED+" loses its "+", case is ignored.
 */
export function normalizeSlurmState(native: string): string {
  const first = native.trim().split(/\s+/, 1)[0] ?? '';
  return first.replace(/\+$/, '').toUpperCase();
}

export function mapSlurmState(native: string): JobState {
  const key = normalizeSlurmState(native);
  return Object.hasOwn(SLURM_STATE_MAP, key) ? (SLURM_STATE_MAP[key] ?? 'unknown') : 'unknown';
}

/** True for SUSPENDED/STOPPED: queued in our terms, yet the job did start once. */
export function isPausedSlurmState(native: string): boolean {
  return PAUSED_STATES.has(normalizeSlurmState(native));
}
