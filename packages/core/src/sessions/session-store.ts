/**
 * The persistent session store: one JSON file per session (`<dir>/<id>.json`, 0600) in a 0700
 * directory on this machine. Every write is atomic (temp file, fsync, rename, fsync of the
 * directory), so a crash leaves the old record or the new one, never half of one; writes of one
 * session are queued so the last change always lands last. Loading tolerates damage: a file that
 * does not parse or is not a record is skipped and reported, never fatal. Secrets never go here
 * (see session-secrets.ts). The agent's leases (which sessions a launcher holds, see
 * agent/session-leases.ts) are kept in `<dir>/leases.json` the same way, so that an agent started
 * after a crash still cancels the jobs whose launchers died meanwhile.
 */
import { chmod, mkdir, readdir, readFile, stat, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { isAtomicTemp, writeFileAtomic } from '../util/atomic-file.js';
import { HpcError, SessionFileError, throwIfAborted } from '../errors.js';
import type { SessionState } from '../schedulers/types.js';
import { isSessionId } from './session-ids.js';
import type { SessionRecord } from './types.js';

const SESSION_STATES: ReadonlySet<string> = new Set<SessionState>([
  'submitting',
  'queued',
  'starting',
  'ready',
  'stopping',
  'completed',
  'failed',
  'cancelled',
  'timed-out',
  'unknown',
]);

/** The leases' file in the store's directory (not a session record). */
export const LEASES_FILE = 'leases.json';

/** A stored lease (see agent/session-leases.ts, whose LeaseStore this store is). */
export interface StoredLease {
  readonly id: string;
  readonly graceMs: number;
  readonly holdUntil: number;
}

/** Temp files older than this at load time were left by a crash and are removed. */
const STALE_TEMP_MS = 60_000;

/** `${XDG_STATE_HOME:-~/.local/state}/hpc-jupyter/sessions` (a relative XDG value is ignored). */
export function defaultSessionsDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
  home: string = homedir(),
): string {
  const xdg = env['XDG_STATE_HOME'];
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'state');
  return path.join(base, 'hpc-jupyter', 'sessions');
}

export interface LoadResult {
  readonly records: readonly SessionRecord[];
  /** Files that were skipped, with why. */
  readonly problems: readonly SessionFileError[];
}

export class SessionStore {
  private ready: Promise<void> | undefined;
  /** The tail of each session's write queue. */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(readonly dir: string) {}

  fileOf(id: string): string {
    if (!isSessionId(id)) throw new HpcError(`Not a session id: ${JSON.stringify(id)}`);
    return path.join(this.dir, `${id}.json`);
  }

  /** Creates the directory (0700, also when it existed with a wider mode). */
  ensureDir(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await chmod(this.dir, 0o700);
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  async load(signal?: AbortSignal): Promise<LoadResult> {
    throwIfAborted(signal);
    await this.ensureDir();
    const records: SessionRecord[] = [];
    const problems: SessionFileError[] = [];
    for (const name of await readdir(this.dir)) {
      const file = path.join(this.dir, name);
      if (isAtomicTemp(name)) {
        await removeIfStale(file);
        continue;
      }
      if (!name.endsWith('.json') || name === LEASES_FILE) continue;
      try {
        const record = parseRecord(await readFile(file, 'utf8'));
        if (`${record.id}.json` !== name) throw new Error(`it holds session "${record.id}"`);
        records.push(record);
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        problems.push(
          new SessionFileError(`Session file ${file} is damaged: ${why}`, file, { cause: error }),
        );
      }
    }
    records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return { records, problems };
  }

  /** Writes the record atomically; resolves when it is on disk. */
  save(record: SessionRecord): Promise<void> {
    const file = this.fileOf(record.id);
    const data = `${JSON.stringify(record, null, 2)}\n`;
    return this.enqueue(record.id, () => writeAtomic(file, data));
  }

  /**
   * The stored leases; none when there is no file. A damaged file gives none and says why in
   * `problem` (the agent reports it): its sessions then run on as if never leased.
   */
  async loadLeases(): Promise<{ entries: StoredLease[]; problem?: Error }> {
    const file = path.join(this.dir, LEASES_FILE);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [] };
      throw error;
    }
    try {
      return { entries: parseLeases(text) };
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      return {
        entries: [],
        problem: new SessionFileError(`The leases file ${file} is damaged: ${why}`, file, {
          cause: error,
        }),
      };
    }
  }

  /** Replaces the stored leases, atomically (0600); after every earlier lease write. */
  saveLeases(entries: readonly StoredLease[]): Promise<void> {
    const file = path.join(this.dir, LEASES_FILE);
    const data = `${JSON.stringify({ version: 1, leases: entries }, null, 2)}\n`;
    return this.enqueue(LEASES_FILE, () => writeAtomic(file, data));
  }

  /** Deletes the record's file; a missing file is fine. */
  delete(id: string): Promise<void> {
    const file = this.fileOf(id);
    return this.enqueue(id, async () => {
      try {
        await unlink(file);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    });
  }

  /** Resolves once every write queued so far has finished. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.queues.values()]);
  }

  private enqueue(id: string, write: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        await this.ensureDir();
        await write();
      });
    this.queues.set(id, next);
    const cleanup = (): void => {
      if (this.queues.get(id) === next) this.queues.delete(id);
    };
    next.then(cleanup, cleanup);
    return next;
  }
}

/** Writes a store file: 0600, atomically, and durably (the directory is synced too). */
export function writeAtomic(file: string, data: string, mode = 0o600): Promise<void> {
  return writeFileAtomic(file, data, { mode, durable: true });
}

async function removeIfStale(file: string): Promise<void> {
  try {
    if (Date.now() - (await stat(file)).mtimeMs > STALE_TEMP_MS) await unlink(file);
  } catch {
    // Gone already, or not ours to remove: either way nothing to load.
  }
}

/** The record in a session file, checked enough that the rest of the code can trust its shape. */
export function parseRecord(text: string): SessionRecord {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('not a JSON object');
  }
  const r = value as Record<string, unknown>;
  for (const key of ['id', 'cluster', 'template', 'title', 'jobName', 'createdAt', 'updatedAt']) {
    if (typeof r[key] !== 'string') throw new Error(`"${key}" is missing or not a string`);
  }
  if (!isSessionId(r['id'] as string)) throw new Error('"id" is not a session id');
  if (typeof r['state'] !== 'string' || !SESSION_STATES.has(r['state'])) {
    throw new Error('"state" is not a session state');
  }
  if (typeof r['params'] !== 'object' || r['params'] === null || Array.isArray(r['params'])) {
    throw new Error('"params" is not an object');
  }
  if (r['jobId'] !== undefined && typeof r['jobId'] !== 'string') {
    throw new Error('"jobId" is not a string');
  }
  return value as SessionRecord;
}

function parseLeases(text: string): StoredLease[] {
  const value: unknown = JSON.parse(text);
  const leases =
    typeof value === 'object' && value !== null
      ? (value as { leases?: unknown }).leases
      : undefined;
  if (!Array.isArray(leases)) throw new Error('"leases" is not a list');
  return leases.map((entry: unknown, i) => {
    const e = (typeof entry === 'object' && entry !== null ? entry : {}) as Record<string, unknown>;
    const { id, graceMs, holdUntil } = e;
    if (typeof id !== 'string' || !isSessionId(id))
      throw new Error(`lease ${i}: "id" is not a session id`);
    if (typeof graceMs !== 'number' || !(graceMs >= 0))
      throw new Error(`lease ${i}: "graceMs" is not a number`);
    if (typeof holdUntil !== 'number') throw new Error(`lease ${i}: "holdUntil" is not a number`);
    return { id, graceMs, holdUntil };
  });
}
