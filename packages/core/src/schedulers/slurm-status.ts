/**
 * How the answers of squeue and sacct combine into one JobStatus per id asked about. Pure: the
 * adapter runs the commands, this decides what they mean, including when one of them failed.
 */

import {
  JobIndex,
  SLURM_JOB_ID,
  parseSacct,
  parseSqueue,
  recordToStatus,
  unknownStatus,
} from './slurm-parse.js';
import { FINAL_STATES, type JobStatus } from './types.js';

/** What a command answered: its output, or why there is none. */
export type CommandOutcome =
  | { readonly ok: true; readonly stdout: string }
  | { readonly ok: false; readonly reason: string; readonly accountingDisabled?: boolean };

export interface QueueStatus {
  /** Every id asked about that squeue answered for, or that is not a Slurm id at all. */
  readonly result: Map<string, JobStatus>;
  /** Ids to look up in accounting: gone from squeue, or finished there (for exit codes). */
  readonly toAccount: string[];
}

/** Ids as the caller gave them, split into Slurm job ids and answers for the rest. */
export function splitIds(ids: readonly string[]): {
  wanted: string[];
  result: Map<string, JobStatus>;
} {
  const result = new Map<string, JobStatus>();
  const wanted: string[] = [];
  for (const id of new Set(ids)) {
    if (SLURM_JOB_ID.test(id)) wanted.push(id);
    else result.set(id, unknownStatus(id, `${JSON.stringify(id)} is not a Slurm job id`));
  }
  return { wanted, result };
}

/**
 * The queue's answer. A squeue that failed makes every id `unknown` with its reason; a garbled
 * line makes its job `unknown` rather than letting it look gone.
 */
export function statusFromQueue(
  wanted: readonly string[],
  squeue: CommandOutcome,
  now: Date,
  result: Map<string, JobStatus> = new Map(),
): QueueStatus {
  const toAccount: string[] = [];
  if (!squeue.ok) {
    for (const id of wanted) result.set(id, unknownStatus(id, squeue.reason));
    return { result, toAccount };
  }
  const queued = new JobIndex(parseSqueue(squeue.stdout));
  for (const id of wanted) {
    const record = queued.find(id);
    if (record !== undefined) {
      const status = recordToStatus(record, now);
      result.set(id, status);
      if (FINAL_STATES.has(status.state)) toAccount.push(id);
    } else if (queued.isGarbled(id)) {
      result.set(id, unknownStatus(id, 'squeue printed an unreadable line for this job'));
    } else {
      toAccount.push(id);
    }
  }
  return { result, toAccount };
}

/**
 * Adds accounting's answer for `ids` to `result`. Squeue stays authoritative for jobs it showed
 * (accounting only adds the exit code). A job neither command knows, or whose accounting could
 * not be read, is `unknown`: never `completed` on the strength of silence.
 */
export function addAccounting(
  ids: readonly string[],
  sacct: CommandOutcome,
  now: Date,
  result: Map<string, JobStatus>,
): void {
  const index = sacct.ok ? new JobIndex(parseSacct(sacct.stdout)) : undefined;
  for (const id of ids) {
    const fromQueue = result.get(id);
    const record = index?.find(id);
    if (fromQueue !== undefined) {
      if (record !== undefined) result.set(id, withExit(fromQueue, record));
    } else if (index === undefined) {
      result.set(id, unknownStatus(id, accountingFailure(sacct)));
    } else if (record === undefined) {
      result.set(
        id,
        unknownStatus(
          id,
          index.isGarbled(id)
            ? 'sacct printed an unreadable line for this job'
            : 'the job is neither in the queue nor in the accounting records',
        ),
      );
    } else {
      const status = recordToStatus(record, now);
      // Squeue lists every live job of this user, so a live job found only in accounting is
      // another user's job or a record the controller lost; neither says how the job fares.
      result.set(
        id,
        FINAL_STATES.has(status.state)
          ? status
          : {
              ...unknownStatus(
                id,
                `squeue does not list the job among this user's jobs, yet accounting says ${status.nativeState}`,
              ),
              nativeState: status.nativeState,
            },
      );
    }
  }
}

function accountingFailure(sacct: CommandOutcome): string {
  if (sacct.ok) return 'the job is no longer in the queue';
  return sacct.accountingDisabled === true
    ? 'the job is no longer in the queue and this cluster keeps no job accounting, so how it ended is unknown'
    : `the job is no longer in the queue and ${sacct.reason}`;
}

function withExit(
  status: JobStatus,
  record: { exitCode?: number; exitSignal?: number },
): JobStatus {
  return {
    ...status,
    ...(record.exitCode === undefined ? {} : { exitCode: record.exitCode }),
    ...(record.exitSignal === undefined ? {} : { exitSignal: record.exitSignal }),
  };
}
