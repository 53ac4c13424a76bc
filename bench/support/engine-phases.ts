/**
 * Where an engine start's time went, in phases that the hpc-jupyter start and the hand-written
 * script share, so a gap points at the part (and the code) it comes from. Pure: the benchmark
 * gathers the instants (epoch ms, all on this machine's clock).
 */

/** In order; each is the time from the end of the one before. */
export const ENGINE_PHASES = [
  /** Command or sbatch started -> job id known (CLI + agent + SFTP writes + sbatch for ours). */
  'submit',
  /** -> the batch step began (job.log created): scheduling and slurmd launching the script. */
  'to step start',
  /** -> the ready file (connection.json, or the baseline's `ready`): the engine's start-up. */
  'start-up in job',
  /** -> the client knows: the CLI printed the session, or the baseline's poll saw the file. */
  'seen by client',
] as const;

export type EnginePhase = (typeof ENGINE_PHASES)[number];

export interface EngineInstants {
  readonly t0: number;
  readonly submitted?: number | undefined;
  readonly stepStart?: number | undefined;
  readonly readyFile?: number | undefined;
  readonly seen: number;
}

/** Phases between the instants that are known and in order. */
export function enginePhases(at: EngineInstants): Partial<Record<EnginePhase, number>> {
  const points: [EnginePhase, number | undefined][] = [
    ['submit', at.submitted],
    ['to step start', at.stepStart],
    ['start-up in job', at.readyFile],
    ['seen by client', at.seen],
  ];
  const out: Partial<Record<EnginePhase, number>> = {};
  let previous = at.t0;
  for (const [phase, instant] of points) {
    if (instant === undefined || instant < previous) continue;
    out[phase] = instant - previous;
    previous = instant;
  }
  return out;
}
