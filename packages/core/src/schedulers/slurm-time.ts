/**
 * Slurm's time formats: durations ("1-00:00:00", "30:00", "infinite") and timestamps. The
 * adapter runs squeue and sacct with SLURM_TIME_FORMAT=%s and TZ=UTC, so timestamps arrive as
 * epoch seconds; ISO strings are still read (as UTC) for sites whose wrappers override that.
 */

/** Words Slurm prints where a duration or time is absent or unlimited. */
const NO_VALUE = new Set([
  '',
  'N/A',
  'NONE',
  'UNKNOWN',
  'INFINITE',
  'UNLIMITED',
  'NOT_SET',
  'INVALID',
  'PARTITION_LIMIT',
  '(NULL)',
]);

/**
 * Minutes of a Slurm duration, rounded up to whole minutes. Accepts every form Slurm prints or
 * reads: "M", "M:S", "H:M:S", "D-H", "D-H:M", "D-H:M:S". Undefined for "infinite", "UNLIMITED",
 * "n/a" and anything unreadable; callers treat that as "no limit known".
 */
export function parseSlurmDuration(text: string): number | undefined {
  const value = text.trim();
  if (NO_VALUE.has(value.toUpperCase())) return undefined;
  const match = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(value);
  if (match === null) return undefined;
  const [, days, a, b, c] = match;
  let seconds: number;
  if (days !== undefined) {
    // With days the fields are hours[:minutes[:seconds]].
    seconds = Number(days) * 86_400 + Number(a) * 3600 + Number(b ?? 0) * 60 + Number(c ?? 0);
  } else if (c !== undefined) {
    seconds = Number(a) * 3600 + Number(b) * 60 + Number(c);
  } else if (b !== undefined) {
    seconds = Number(a) * 60 + Number(b);
  } else {
    seconds = Number(a) * 60;
  }
  return Math.ceil(seconds / 60);
}

/** Minutes as Slurm's unambiguous "D-HH:MM:SS" (90 -> "0-01:30:00"). */
export function formatSlurmDuration(minutes: number): string {
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  return `${days}-${pad2(hours)}:${pad2(mins)}:00`;
}

/**
 * A Slurm timestamp: epoch seconds, or "YYYY-MM-DDTHH:MM:SS" read as UTC. Undefined for "N/A",
 * "Unknown", "None", 0 and anything unreadable.
 */
export function parseSlurmTimestamp(text: string): Date | undefined {
  const value = text.trim();
  if (NO_VALUE.has(value.toUpperCase())) return undefined;
  if (/^\d+$/.test(value)) {
    const seconds = Number(value);
    // 0 is "never"; 0xFFFFFFFE/F are Slurm's NO_VAL/INFINITE leaking through.
    if (seconds <= 0 || seconds >= 0xfffffffe) return undefined;
    return new Date(seconds * 1000);
  }
  const iso = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(value);
  if (iso === null) return undefined;
  const [, y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0] = iso.map(Number);
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, s));
  // Date.UTC rolls "2026-13-45" over into 2027; a garbled field must not become a real date.
  const exact =
    date.getUTCFullYear() === y &&
    date.getUTCMonth() === mo - 1 &&
    date.getUTCDate() === d &&
    date.getUTCHours() === h &&
    date.getUTCMinutes() === mi &&
    date.getUTCSeconds() === s;
  return exact && date.getTime() > 0 ? date : undefined;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
