/**
 * Pure parsers for HTCondor output: `condor_q -json` and `condor_history -json` job ads,
 * condor_submit -terse's id range, `condor_status -json` slots, and the step from an ad to a
 * JobStatus. Nothing here runs a command.
 */

import { dropUndefined } from '../batch-commands.js';
import { FINAL_STATES, type JobState, type JobStatus, type PoolInfo } from '../types.js';
import { HTCONDOR_STATE_NAMES, completedState, mapHtcondorState, removedState } from './states.js';

/** Ids the adapter accepts: "123.0" (a job) or "123" (every job of a cluster). */
export const HTCONDOR_JOB_ID = /^\d+(?:\.\d+)?$/;

export class HtcondorParseError extends Error {
  override readonly name = 'HtcondorParseError';
}

export type ClassAd = Readonly<Record<string, unknown>>;

/** `-json` prints an array of ads, or nothing at all when no job matched. */
export function parseAds(stdout: string, command: string): ClassAd[] {
  if (stdout.trim() === '') return [];
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch (error) {
    throw new HtcondorParseError(
      `${command} printed JSON that could not be read: ${(error as Error).message}`,
    );
  }
  if (!Array.isArray(doc))
    throw new HtcondorParseError(`${command} printed JSON that is not a list of ads`);
  return doc.filter((ad): ad is ClassAd => typeof ad === 'object' && ad !== null);
}

export function adId(ad: ClassAd): string | undefined {
  const cluster = ad['ClusterId'];
  const proc = ad['ProcId'];
  return typeof cluster === 'number' && typeof proc === 'number'
    ? `${String(cluster)}.${String(proc)}`
    : undefined;
}

const LIVENESS: Readonly<Record<JobState, number>> = {
  starting: 0,
  stopping: 1,
  queued: 2,
  unknown: 3,
  failed: 4,
  'timed-out': 5,
  cancelled: 6,
  completed: 7,
};

/** The ad for an id: exact "C.P", or for a cluster id the liveliest of its procs. */
export function findAd(ads: readonly ClassAd[], id: string): ClassAd | undefined {
  if (id.includes('.')) return ads.find((ad) => adId(ad) === id);
  let best: ClassAd | undefined;
  for (const ad of ads.filter((a) => String(a['ClusterId']) === id)) {
    if (best === undefined || LIVENESS[stateOf(ad)] < LIVENESS[stateOf(best)]) best = ad;
  }
  return best;
}

function stateOf(ad: ClassAd): JobState {
  const code = num(ad['JobStatus']);
  const state = mapHtcondorState(code);
  if (code === 3) return removedState(str(ad['RemoveReason']));
  if (code === 4) return completedState(bool(ad['ExitBySignal']), num(ad['ExitCode']));
  return state;
}

export function adToStatus(ad: ClassAd, id = adId(ad) ?? ''): JobStatus {
  const code = num(ad['JobStatus']);
  const state = stateOf(ad);
  const native = HTCONDOR_STATE_NAMES[String(code ?? '')] ?? String(code ?? '');
  const bySignal = bool(ad['ExitBySignal']) === true;
  const reason =
    code === 5
      ? (str(ad['HoldReason']) ?? 'held')
      : code === 7
        ? 'suspended'
        : code === 3
          ? str(ad['RemoveReason'])
          : state === 'unknown'
            ? code === undefined
              ? 'the job ad has no JobStatus'
              : `JobStatus ${native} without an exit code`
            : undefined;
  const start = epoch(ad['JobCurrentStartDate']) ?? epoch(ad['JobStartDate']);
  const maxRuntime = num(ad['MaxRuntime']);
  const host =
    str(ad['RemoteHost']) ?? (FINAL_STATES.has(state) ? str(ad['LastRemoteHost']) : undefined);
  return dropUndefined({
    id,
    state,
    nativeState: native,
    name:
      typeof ad['JobBatchName'] === 'string' && ad['JobBatchName'] !== ''
        ? ad['JobBatchName']
        : undefined,
    reason,
    submitTime: epoch(ad['QDate']),
    startTime: state === 'queued' && code !== 7 ? undefined : start,
    endTime: FINAL_STATES.has(state)
      ? (epoch(ad['CompletionDate']) ?? epoch(ad['EnteredCurrentStatus']))
      : undefined,
    timeLimitMinutes: maxRuntime === undefined ? undefined : Math.ceil(maxRuntime / 60),
    // "slot1_2@node3.example.org" -> "node3.example.org".
    nodes: host === undefined ? undefined : [host.slice(host.indexOf('@') + 1)],
    exitCode: code === 4 && !bySignal ? num(ad['ExitCode']) : undefined,
    exitSignal: bySignal ? num(ad['ExitSignal']) : undefined,
  });
}

/** condor_submit -terse: "123.0 - 123.0" (first - last); the first job's id. */
export function parseSubmitTerse(stdout: string): string | undefined {
  return /^\s*(\d+\.\d+)\s*-\s*\d+\.\d+\s*$/m.exec(stdout)?.[1];
}

/**
 * What one machine of the pool offers: partitionable slots carry the machine's whole size;
 * static slots of one machine add up. Only machines with a slot not Owner-claimed count.
 */
export function parsePool(stdout: string): PoolInfo {
  const machines = new Map<string, { cpus: number; memory: number; gpus: number }>();
  for (const ad of parseAds(stdout, 'condor_status')) {
    const machine = str(ad['Machine']);
    if (machine === undefined || str(ad['State']) === 'Owner') continue;
    const partitionable = str(ad['SlotType']) === 'Partitionable';
    const entry = machines.get(machine) ?? { cpus: 0, memory: 0, gpus: 0 };
    const cpus = num(partitionable ? ad['TotalCpus'] : ad['Cpus']) ?? num(ad['Cpus']) ?? 0;
    const memory = num(partitionable ? ad['TotalMemory'] : ad['Memory']) ?? num(ad['Memory']) ?? 0;
    const gpus = num(partitionable ? ad['TotalGPUs'] : ad['GPUs']) ?? num(ad['GPUs']) ?? 0;
    if (partitionable) machines.set(machine, { cpus, memory, gpus });
    else
      machines.set(machine, {
        cpus: entry.cpus + cpus,
        memory: entry.memory + memory,
        gpus: entry.gpus + gpus,
      });
  }
  const sizes = [...machines.values()];
  const max = (
    pick: (m: { cpus: number; memory: number; gpus: number }) => number,
  ): number | undefined => {
    const values = sizes.map(pick).filter((v) => v > 0);
    return values.length === 0 ? undefined : Math.max(...values);
  };
  return dropUndefined({
    machines: sizes.length,
    cpusPerMachine: max((m) => m.cpus),
    memoryMiBPerMachine: max((m) => m.memory),
    gpusPerMachine: max((m) => m.gpus),
  });
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? Math.trunc(value) : undefined;
}

function bool(value: unknown): boolean | undefined {
  return typeof value === 'boolean' ? value : undefined;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function epoch(value: unknown): Date | undefined {
  const seconds = num(value);
  return seconds === undefined || seconds <= 0 ? undefined : new Date(seconds * 1000);
}
