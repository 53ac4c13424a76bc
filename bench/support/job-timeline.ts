/**
 * Where a Jupyter job's start-up time went, read back from the cluster after the fact: when the
 * batch step began (the birth time of the job's log, which slurmstepd creates just before the
 * script runs), when Jupyter first logged (its imports are done) and when it said it was running
 * (both from Jupyter's own millisecond timestamps in that log), and when a file the job wrote last
 * changed (hpc-jupyter's connection.json). Everything runs on one machine, so one clock.
 */
import type { Transport } from '../../packages/core/src/transport/types.js';

export interface JupyterLogTimes {
  /** Epoch ms of Jupyter's first log line. */
  readonly firstLog?: number;
  /** Epoch ms of "... is running at:". */
  readonly running?: number;
}

/** `[I 2025-11-22 03:20:11.123 ServerApp] ...`: local time, as the job's Python printed it. */
const JUPYTER_LINE =
  /^\[[DIWEC] (\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{3}) [^\]]*\] (.*)$/;

export function parseJupyterLog(text: string): JupyterLogTimes {
  let firstLog: number | undefined;
  let running: number | undefined;
  for (const line of text.split('\n')) {
    const m = JUPYTER_LINE.exec(line);
    if (m === null) continue;
    const [y, mo, d, h, mi, s, ms] = m.slice(1, 8).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const at = new Date(y, mo - 1, d, h, mi, s, ms).getTime();
    firstLog ??= at;
    if (running === undefined && / is running at/.test(m[8] ?? '')) running = at;
  }
  return {
    ...(firstLog === undefined ? {} : { firstLog }),
    ...(running === undefined ? {} : { running }),
  };
}

export interface FileTimes {
  /** Epoch ms the file was created; undefined where the filesystem does not record it. */
  readonly born?: number;
  /** Epoch ms of its last change. */
  readonly modified: number;
}

/** `stat` output lines `<born s.ms> <modified s.ms> <path>` (born is 0 or `-` when unknown). */
export function parseStat(text: string): Map<string, FileTimes> {
  const out = new Map<string, FileTimes>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (\d+(?:\.\d+)?) (.+)$/.exec(line);
    if (m === null) continue;
    const born = Number(m[1]);
    out.set(m[3] as string, {
      ...(Number.isFinite(born) && born > 0 ? { born: Math.round(born * 1000) } : {}),
      modified: Math.round(Number(m[2]) * 1000),
    });
  }
  return out;
}

/** Birth and change times of files on the cluster; missing files are left out. */
export async function remoteFileTimes(
  transport: Transport,
  paths: readonly string[],
): Promise<Map<string, FileTimes>> {
  const result = await transport.run(['stat', '--format=%.3W %.3Y %n', '--', ...paths], {
    timeout: 30_000,
  });
  return parseStat(result.stdout);
}

/** The job's log, or '' when it cannot be read. */
export async function readLog(transport: Transport, path: string): Promise<string> {
  try {
    return (await transport.readFile(path)).toString('utf8');
  } catch {
    return '';
  }
}

/** Milliseconds between two instants, undefined unless both are known and in order. */
export function span(from: number | undefined, to: number | undefined): number | undefined {
  if (from === undefined || to === undefined || to < from) return undefined;
  return to - from;
}
