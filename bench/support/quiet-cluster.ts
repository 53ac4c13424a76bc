/**
 * Other engineers share the Slurm test cluster: a run that starts while their jobs hold the nodes
 * or the machine's two cores measures them, not us. Before each run a benchmark waits (a while)
 * for the queue to empty and notes how many jobs were left when it started anyway.
 */
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
