/**
 * Other engineers share the Slurm test cluster: a run that starts while their jobs hold the nodes
 * or the machine's two cores measures them, not us. Before each run a benchmark waits (a while)
 * for the queue to empty and notes how many jobs were left when it started anyway.
 */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Transport } from '../../packages/core/src/transport/types.js';

/** How long a run waits for other people's jobs to leave the queue before it starts anyway. */
export const QUIET_WAIT_MS = 90_000;

/**
 * Jobs in the queue now (pending, running or completing), all users'. Ours have all ended by the
 * time this is asked, so these are someone else's, competing for the same nodes and CPUs.
 */
export async function queuedJobs(transport: Transport): Promise<number | undefined> {
  const result = await transport.run(['squeue', '--noheader', '--all', '--format=%i']);
  if (result.code !== 0) return undefined;
  return result.stdout.split('\n').filter((line) => line.trim() !== '').length;
}

/** Waits (up to `waitMs`) until nobody else has jobs queued; returns how many are left. */
export async function quietCluster(
  transport: Transport,
  waitMs: number = QUIET_WAIT_MS,
): Promise<number | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const others = await queuedJobs(transport);
    if (others === undefined || others === 0 || Date.now() > deadline) return others;
    await sleep(2_000);
  }
}

/** The machine's CPU time counters from /proc/stat's first line: idle (with iowait) and total. */
export function cpuTimes(procStat: string): { idle: number; total: number } {
  const first = procStat.split('\n', 1)[0] ?? '';
  const fields = first.trim().split(/\s+/);
  if (fields[0] !== 'cpu') throw new Error(`not /proc/stat: ${first}`);
  // user nice system idle iowait irq softirq steal (guest time is already in user and nice)
  const values = fields.slice(1, 9).map(Number);
  const total = values.reduce((a, b) => a + b, 0);
  return { idle: (values[3] ?? 0) + (values[4] ?? 0), total };
}

/** The share of CPU time the machine spent idle over `sampleMs`. */
export async function idleShare(sampleMs = 1000): Promise<number> {
  const before = cpuTimes(await readFile('/proc/stat', 'utf8'));
  await sleep(sampleMs);
  const after = cpuTimes(await readFile('/proc/stat', 'utf8'));
  const total = after.total - before.total;
  return total <= 0 ? 1 : (after.idle - before.idle) / total;
}

/**
 * Waits (up to `waitMs`) until the machine's cores are at least `minIdle` idle over a second:
 * processes of a job that just ended (a JVM exiting, a Slurm epilog) would otherwise slow
 * whatever is timed next. Returns the last idle share seen.
 */
export async function quietCpu(minIdle = 0.9, waitMs = 30_000): Promise<number> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const idle = await idleShare();
    if (idle >= minIdle || Date.now() > deadline) return idle;
  }
}
