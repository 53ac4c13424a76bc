/**
 * The one table from HTCondor's JobStatus codes (1-7) onto our JobState, and how a finished job's
 * exit attributes and remove reason refine it. Anything not in the table is `unknown`.
 */

import type { JobState } from '../types.js';

/**
 * Choices that are not obvious from the names:
 * - 5 Held -> queued: a held job waits (for a release, or for the site's periodic_release); the
 *   HoldReason is shown as the reason, since a held job will not start by itself.
 * - 7 Suspended -> queued: it does not execute now and will resume.
 * - 6 Transferring Output -> stopping: the job ended, its files are still moving.
 * - 3 Removed -> cancelled, except when our own walltime rule (periodic_remove) removed it:
 *   timed-out (see `removedState`).
 * - 4 Completed -> completed, refined by ExitCode/ExitBySignal (`completedState`).
 */
export const HTCONDOR_STATE_MAP: Readonly<Record<string, JobState>> = Object.freeze({
  '1': 'queued',
  '2': 'starting',
  '3': 'cancelled',
  '4': 'completed',
  '5': 'queued',
  '6': 'stopping',
  '7': 'queued',
});

export const HTCONDOR_STATE_NAMES: Readonly<Record<string, string>> = Object.freeze({
  '1': 'Idle',
  '2': 'Running',
  '3': 'Removed',
  '4': 'Completed',
  '5': 'Held',
  '6': 'TransferringOutput',
  '7': 'Suspended',
});

export function mapHtcondorState(code: number | string | undefined): JobState {
  const key = String(code ?? '');
  return Object.hasOwn(HTCONDOR_STATE_MAP, key)
    ? (HTCONDOR_STATE_MAP[key] ?? 'unknown')
    : 'unknown';
}

/** A removed job: timed-out when the walltime rule we submit removed it, else cancelled. */
export function removedState(removeReason: string | undefined): JobState {
  return /PeriodicRemove/i.test(removeReason ?? '') ? 'timed-out' : 'cancelled';
}

export function completedState(
  exitBySignal: boolean | undefined,
  exitCode: number | undefined,
): JobState {
  if (exitBySignal === true) return 'failed';
  if (exitCode === undefined) return 'unknown';
  return exitCode === 0 ? 'completed' : 'failed';
}
