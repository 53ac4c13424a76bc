/**
 * The one table from LSF job states (`bjobs` STAT) onto our JobState, and how an EXIT job's
 * exit reason refines `failed`. Anything not in the table is `unknown`, never a final state.
 */

import type { JobState } from '../types.js';

/**
 * Choices that are not obvious from the names:
 * - PSUSP (held before it started), USUSP and SSUSP (suspended by the user or the system) and
 *   WAIT (a chunk job waiting its turn) -> queued: the job does not execute now, and will.
 * - RUN and PROV (hosts being provisioned for it) -> starting.
 * - ZOMBI (killed, but its execution host did not confirm) -> stopping: not over yet.
 * - EXIT -> failed, which `exitedState` refines: a run-limit kill is timed-out, a bkill by the
 *   owner or an administrator cancelled.
 * - UNKWN (mbatchd lost contact with the execution host) -> unknown.
 */
export const LSF_STATE_MAP: Readonly<Record<string, JobState>> = Object.freeze({
  PEND: 'queued',
  PSUSP: 'queued',
  USUSP: 'queued',
  SSUSP: 'queued',
  WAIT: 'queued',
  PROV: 'starting',
  RUN: 'starting',
  ZOMBI: 'stopping',
  DONE: 'completed',
  EXIT: 'failed',
  UNKWN: 'unknown',
});

export function mapLsfState(native: string): JobState {
  const key = native.trim().toUpperCase();
  return Object.hasOwn(LSF_STATE_MAP, key) ? (LSF_STATE_MAP[key] ?? 'unknown') : 'unknown';
}

/** An EXIT job's state from its exit reason (TERM_* names or their text). */
export function exitedState(exitReason: string | undefined): JobState {
  const reason = exitReason ?? '';
  if (/TERM_RUNLIMIT|TERM_DEADLINE|run ?(?:time )?limit/i.test(reason)) return 'timed-out';
  if (/TERM_(?:FORCE_)?(?:OWNER|ADMIN)|killed by (?:owner|admin)/i.test(reason)) return 'cancelled';
  return 'failed';
}
