/**
 * Process facts the local scheduler needs, read from /proc without starting any process: is a
 * pid still the process we started (not a reused pid, not a zombie), and is anything left of a
 * process group. Off Linux (no /proc) it falls back to kill(pid, 0), without the pid-reuse guard.
 */

import { readdir, readFile } from 'node:fs/promises';

export interface ProcStat {
  /** One-letter state: R, S, D, Z (zombie), X (dead), ... */
  readonly state: string;
  readonly pgrp: number;
  /** Start time in clock ticks after boot: with the boot id, identifies a process for good. */
  readonly startTicks: number;
}

/** Who a recorded process was, as the supervisor and submit write it down. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTicks?: number;
  readonly bootId?: string;
}

/** The seam tests use to fake /proc (pid reuse, a vanished supervisor). */
export interface ProcReader {
  stat(pid: number): Promise<ProcStat | undefined>;
  bootId(): Promise<string | undefined>;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) may contain spaces and parentheses, so the
 * fields are counted from the last ')'; after it come state (field 3), ppid, pgrp (field 5), ...
 * and starttime (field 22).
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  const fields = text.slice(close + 2).split(' ');
  const state = fields[0];
  const pgrp = Number(fields[2]);
  const startTicks = Number(fields[19]);
  if (state === undefined || !Number.isInteger(pgrp) || !Number.isInteger(startTicks)) {
    return undefined;
  }
  return { state, pgrp, startTicks };
}

export const linuxProc: ProcReader = {
  async stat(pid) {
    try {
      return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return undefined;
    }
  },
  async bootId() {
    try {
      return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    } catch {
      return undefined;
    }
  },
};

/** True when /proc is there to ask (Linux); elsewhere liveness falls back to signals. */
async function hasProc(proc: ProcReader): Promise<boolean> {
  return (await proc.stat(process.pid)) !== undefined;
}

/**
 * Is the recorded process still running? A recorded boot id that differs from this boot's, a
 * start time that differs (the pid was reused), or a zombie all mean no.
 */
export async function isRunning(
  who: ProcessIdentity,
  currentBootId: string | undefined,
  proc: ProcReader = linuxProc,
): Promise<boolean> {
  if (who.bootId !== undefined && currentBootId !== undefined && who.bootId !== currentBootId) {
    return false;
  }
  const stat = await proc.stat(who.pid);
  if (stat === undefined) return !(await hasProc(proc)) && signalZero(who.pid);
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return who.startTicks === undefined || stat.startTicks === who.startTicks;
}

/** Does any live (non-zombie) process remain in the process group? */
export async function groupAlive(pgid: number, proc: ProcReader = linuxProc): Promise<boolean> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return signalZero(-pgid);
  }
  const pids = names.filter((n) => /^\d+$/.test(n)).map(Number);
  const stats = await Promise.all(pids.map((pid) => proc.stat(pid)));
  return stats.some(
    (s) => s !== undefined && s.pgrp === pgid && s.state !== 'Z' && s.state !== 'X',
  );
}

/**
 * kill(pid, 0): true when the process (or group, for a negative pid) exists and is ours. EPERM
 * means another user's process, which cannot be a job we started.
 */
function signalZero(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends a signal to a process group; a group that is gone already is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: nothing left to signal.
  }
}

/** Sends a signal to one process; one that is gone already is not an error. */
export function signalProcess(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH
  }
}
