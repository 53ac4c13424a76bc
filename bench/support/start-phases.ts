/**
 * The start-to-ready benchmark's samples and their breakdown into phases that both ways of
 * starting Jupyter share, so a gap between hpc-jupyter and the hand-written baseline points at
 * the phase (and so the code) it comes from. Pure: the benchmark gathers the instants.
 */
import { span, type FileTimes, type JupyterLogTimes } from './job-timeline.js';

export type Tool = 'hpc-jupyter' | 'baseline';

/** In order; each is the time from the end of the one before. */
export const PHASES = [
  /** Command or sbatch started -> job id known (CLI + agent + SFTP writes + sbatch for ours). */
  'submit',
  /** -> the batch step began (job.log created): scheduling and slurmd launching the script. */
  'to step start',
  /** -> Jupyter's first log line: the script before Jupyter, Python start and imports. */
  'to Jupyter log',
  /** -> "is running at": Jupyter's own start-up. */
  'Jupyter start',
  /** -> connection.json written (hpc-jupyter only): the runtime's port wait and JSON helpers. */
  'to ready file',
  /** -> the client knows: URL printed (agent poll, tunnel, CLI) or the baseline's first 200. */
  'seen by client',
] as const;

export type Phase = (typeof PHASES)[number];

export interface Sample {
  readonly tool: Tool;
  /** 0 for the warm-up. */
  readonly round: number;
  readonly jobId: string;
  /** The measured figure: command start to URL printed, or sbatch to first 200. */
  readonly readyMs: number;
  /** Start until /api/status answered 200 (through the printed URL for hpc-jupyter). */
  readonly status200Ms: number;
  /** Jobs of others in the queue as the run began: a busy cluster explains an outlier. */
  readonly otherJobs?: number;
  readonly phases: Readonly<Partial<Record<Phase, number>>>;
}

export interface Instants {
  readonly t0: number;
  readonly submitted?: number;
  readonly log?: FileTimes;
  readonly jupyter: JupyterLogTimes;
  /** connection.json (hpc-jupyter only). */
  readonly readyFile?: FileTimes;
  /** URL printed or first 200. */
  readonly seen: number;
}

export function phasesOf(at: Instants): Partial<Record<Phase, number>> {
  const points: [Phase, number | undefined][] = [
    ['submit', at.submitted],
    ['to step start', at.log?.born],
    ['to Jupyter log', at.jupyter.firstLog],
    ['Jupyter start', at.jupyter.running],
    ['to ready file', at.readyFile?.modified],
    ['seen by client', at.seen],
  ];
  const out: Partial<Record<Phase, number>> = {};
  let previous: number | undefined = at.t0;
  for (const [phase, instant] of points) {
    if (instant === undefined) continue;
    const ms = span(previous, instant);
    if (ms !== undefined) out[phase] = ms;
    previous = instant;
  }
  return out;
}
