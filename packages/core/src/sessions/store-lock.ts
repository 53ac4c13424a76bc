/**
 * One agent owns a session store at a time. Two login nodes that share an NFS home would
 * otherwise run two agents on one `~/.local/state/hpc-jupyter/sessions`, each overwriting the
 * other's records and secrets. The owner holds `<dir>/owner.lock`, created with O_EXCL (atomic on
 * NFSv3 and later as on local disks), naming its host and pid, and touches it every
 * `refreshMs`. Another agent takes the lock over only when it is provably stale: its owner ran on
 * this host and that pid is gone, or nobody has touched it for `staleMs` (an agent on another
 * host that died without releasing it). Otherwise it is refused with who holds it and what to do.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import path from 'node:path';
import { HpcError } from '../errors.js';

export const LOCK_FILE = 'owner.lock';

export interface StoreLockOptions {
  readonly host?: string;
  readonly pid?: number;
  /** How often the owner touches the lock (ms). */
  readonly refreshMs?: number;
  /** A lock untouched for this long is stale (ms); several refreshes, so NFS delays are fine. */
  readonly staleMs?: number;
  /** Called when another agent took the lock over (this one was stalled past `staleMs`). */
  readonly onLost?: (holder: LockHolder | undefined) => void;
  readonly now?: () => number;
}

export interface LockHolder {
  readonly host: string;
  readonly pid: number;
  readonly since: string;
  readonly token: string;
  /** The holder's start time (/proc), so a reused pid is not taken for it. */
  readonly startTime?: string;
}

/** The store is held by another live agent. */
export class StoreInUseError extends HpcError {
  override readonly name = 'StoreInUseError';
}

const DEFAULT_REFRESH_MS = 10_000;
const DEFAULT_STALE_MS = 60_000;

export class StoreLock {
  private timer: NodeJS.Timeout | undefined;
  private released = false;

  private constructor(
    readonly file: string,
    readonly holder: LockHolder,
    private readonly options: StoreLockOptions,
  ) {}

  /** Takes the lock of the store in `dir` (which must exist), or throws StoreInUseError. */
  static async acquire(dir: string, options: StoreLockOptions = {}): Promise<StoreLock> {
    const file = path.join(dir, LOCK_FILE);
    const startTime = options.pid === undefined ? await ownStartTime() : undefined;
    const holder: LockHolder = {
      host: options.host ?? osHostname(),
      pid: options.pid ?? process.pid,
      since: new Date(options.now?.() ?? Date.now()).toISOString(),
      token: randomBytes(12).toString('hex'),
      ...(startTime === undefined ? {} : { startTime }),
    };
    // Two tries: the second after removing a stale lock (or one that vanished meanwhile).
    for (let attempt = 0; attempt < 2; attempt++) {
      if (await createExclusive(file, holder)) {
        const lock = new StoreLock(file, holder, options);
        lock.startRefreshing();
        return lock;
      }
      const current = await readHolder(file);
      const staleWhy = await staleReason(file, current, holder.host, options);
      if (staleWhy === undefined && current !== undefined) {
        throw new StoreInUseError(
          `The session store ${dir} is in use by the hpc-jupyter agent on ${current.host} ` +
            `(pid ${current.pid}, since ${current.since}).`,
          {
            hint:
              current.host === holder.host
                ? 'Use that agent (its socket is in its XDG_RUNTIME_DIR), or stop it with `hpc-jupyter agent stop` there.'
                : `Stop the agent on ${current.host} first (\`hpc-jupyter agent stop\` there), or give this machine a store of its own with XDG_STATE_HOME.`,
          },
        );
      }
      await unlinkIfSame(file, current);
    }
    throw new HpcError(`Cannot take the lock ${file}: another agent keeps taking it.`, {
      hint: 'Stop the other hpc-jupyter agents that share this state directory, then try again.',
    });
  }

  /** Gives the lock up, if it is still ours. Idempotent. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    const current = await readHolder(this.file);
    if (current?.token === this.holder.token) await unlinkIfSame(this.file, current);
  }

  private startRefreshing(): void {
    this.timer = setInterval(() => {
      void this.refresh();
    }, this.options.refreshMs ?? DEFAULT_REFRESH_MS);
    this.timer.unref();
  }

  private async refresh(): Promise<void> {
    if (this.released) return;
    const current = await readHolder(this.file);
    if (current?.token !== this.holder.token) {
      this.released = true;
      if (this.timer !== undefined) clearInterval(this.timer);
      this.options.onLost?.(current);
      return;
    }
    const now = new Date(this.options.now?.() ?? Date.now());
    await utimes(this.file, now, now).catch(() => undefined);
  }
}

async function createExclusive(file: string, holder: LockHolder): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new HpcError(`Cannot create the session store's lock ${file}.`, {
      cause: error,
      hint: 'Check that the state directory is writable (XDG_STATE_HOME) and not full.',
    });
  }
  try {
    await handle.writeFile(`${JSON.stringify(holder)}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(file).catch(() => undefined);
    throw new HpcError(`Cannot write the session store's lock ${file}.`, {
      cause: error,
      hint: 'Check that the state directory is writable and not full.',
    });
  }
  await handle.close();
  return true;
}

/** The lock's content; undefined when it is missing or unreadable (a crash mid-write). */
async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as Partial<LockHolder>;
    if (
      typeof value.host === 'string' &&
      typeof value.pid === 'number' &&
      typeof value.since === 'string' &&
      typeof value.token === 'string' &&
      (value.startTime === undefined || typeof value.startTime === 'string')
    ) {
      return value as LockHolder;
    }
  } catch {
    // Fall through: a lock we cannot read names nobody.
  }
  return undefined;
}

/** Why the lock may be taken over, or undefined while its holder may be alive. */
async function staleReason(
  file: string,
  current: LockHolder | undefined,
  host: string,
  options: StoreLockOptions,
): Promise<string | undefined> {
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(file)).mtimeMs;
  } catch {
    return 'gone';
  }
  const age = (options.now?.() ?? Date.now()) - mtimeMs;
  if (age > (options.staleMs ?? DEFAULT_STALE_MS)) return `untouched for ${Math.round(age)} ms`;
  if (current === undefined) {
    // Half-written by an agent that crashed while creating it, or being written right now:
    // only age tells, so give a writer a moment.
    return age > 5_000 ? 'unreadable' : undefined;
  }
  if (current.host === host && !(await alive(current))) return `pid ${current.pid} is gone`;
  return undefined;
}

/**
 * Whether the holder still runs. A killed agent can stay a zombie for a while (an orphan waits
 * for its reaper), and its pid still answers kill(0), so /proc's state decides where it exists;
 * a different start time means the pid was reused by another process.
 */
async function alive(holder: LockHolder): Promise<boolean> {
  const stat = await readFile(`/proc/${holder.pid}/stat`, 'utf8').catch(() => undefined);
  if (stat !== undefined) {
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return false;
    return holder.startTime === undefined || fields[19] === holder.startTime;
  }
  try {
    process.kill(holder.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This process's start time in clock ticks since boot (/proc/self/stat field 22), if known. */
async function ownStartTime(): Promise<string | undefined> {
  const stat = await readFile('/proc/self/stat', 'utf8').catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** Removes the lock only if it still holds what we read, so a fresh owner's lock survives. */
async function unlinkIfSame(file: string, expected: LockHolder | undefined): Promise<void> {
  const now = await readHolder(file);
  if (now?.token !== expected?.token) return;
  await unlink(file).catch(() => undefined);
}
