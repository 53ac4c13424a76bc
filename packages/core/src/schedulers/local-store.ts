/**
 * The on-disk state of the local scheduler: one 0700 directory per job under a state root, with
 * small JSON records that the submitter, the job's supervisor and `cancel` each write atomically
 * (whole files renamed into place), so a reader in another process never sees half a record.
 *
 *   <root>/<id>/job.json         what was asked (name, resources, submit time)      submit
 *   <root>/<id>/script           the job script, 0700                                submit
 *   <root>/<id>/supervisor.json  pid + start time of the supervisor                  submit
 *   <root>/<id>/started.json     pid/pgid + start time of the job's process group    supervisor
 *   <root>/<id>/cancel.json      a cancel was asked for                              cancel
 *   <root>/<id>/exit.json        the final state, exit code or signal                supervisor
 *   <root>/<id>/output           the job's stdout + stderr (unless resources.output)
 */

import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { LocalTransport } from '../transport/local.js';
import type { ProcessIdentity } from './local-proc.js';
import type { ResourceRequest } from './types.js';

export const JOB_FILES = {
  job: 'job.json',
  script: 'script',
  supervisorScript: 'supervisor.mjs',
  supervisorLog: 'supervisor.log',
  supervisor: 'supervisor.json',
  started: 'started.json',
  cancel: 'cancel.json',
  exit: 'exit.json',
  output: 'output',
} as const;

export interface JobRecord {
  readonly id: string;
  readonly name: string;
  readonly resources: ResourceRequest;
  /** ISO time. */
  readonly submitTime: string;
  readonly workdir: string;
  readonly output: string;
  /** Absent: no time limit. */
  readonly walltimeSeconds?: number;
  /** Seconds between SIGTERM and SIGKILL when the job must stop. */
  readonly killGraceSeconds: number;
}

export type SupervisorRecord = ProcessIdentity;

export interface StartedRecord extends ProcessIdentity {
  /** The job script leads its own process group, so its pid is the group id. */
  readonly pgid: number;
  readonly startTime: string;
  readonly hostname: string;
  /** Epoch seconds when the walltime runs out. */
  readonly walltimeEnd?: number;
}

export interface CancelRecord {
  readonly time: string;
}

export type LocalFinalState = 'completed' | 'failed' | 'cancelled' | 'timed-out';

export interface ExitRecord {
  readonly state: LocalFinalState;
  readonly code: number | null;
  /** Signal name, e.g. "SIGTERM". */
  readonly signal: string | null;
  readonly endTime: string;
  readonly reason?: string;
}

/** Everything known about one job, read in one go. */
export interface JobSnapshot {
  readonly id: string;
  readonly job?: JobRecord;
  readonly supervisor?: SupervisorRecord;
  readonly started?: StartedRecord;
  readonly cancel?: CancelRecord;
  readonly exit?: ExitRecord;
}

/** Job ids are positive decimal integers; anything else is never a path component here. */
export const JOB_ID_PATTERN = /^[1-9][0-9]{0,15}$/;

/** `${XDG_STATE_HOME:-~/.local/state}/hpc-jupyter/local-jobs` (a relative XDG value is ignored). */
export function defaultStateDir(env: Readonly<Record<string, string | undefined>>, home: string) {
  const xdg = env['XDG_STATE_HOME'];
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, '.local', 'state');
  return path.join(base, 'hpc-jupyter', 'local-jobs');
}

export class LocalJobStore {
  private readonly files = new LocalTransport();
  private rootReady: Promise<void> | undefined;

  constructor(readonly root: string) {}

  jobDir(id: string): string {
    return path.join(this.root, id);
  }

  /** Creates the root (0700) once per store. */
  ensureRoot(): Promise<void> {
    this.rootReady ??= this.files.mkdir(this.root, { mode: 0o700 }).catch((error: unknown) => {
      this.rootReady = undefined;
      throw error;
    });
    return this.rootReady;
  }

  /**
   * Claims the next id by creating its directory with O_EXCL semantics (mkdir fails if it
   * exists), so concurrent submitters, in this process or others, never share an id. Ids only
   * grow: `.last-id` remembers the highest one even if old job directories are deleted.
   */
  async allocate(): Promise<string> {
    await this.ensureRoot();
    const [ids, last] = await Promise.all([this.listIds(), this.readJson<number>('.last-id')]);
    let next = Math.max(last ?? 0, ...ids.map(Number)) + 1;
    for (;;) {
      const id = String(next);
      try {
        await mkdir(this.jobDir(id), { mode: 0o700 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          next += 1;
          continue;
        }
        throw error;
      }
      await this.files.mkdir(this.jobDir(id), { mode: 0o700 }); // chmod past the umask
      // Best effort: a lost race here only matters if directories are also deleted meanwhile.
      await this.writeRootJson('.last-id', next).catch(() => undefined);
      return id;
    }
  }

  /** Numeric job directory names under the root, in no particular order. */
  async listIds(): Promise<string[]> {
    try {
      return (await readdir(this.root)).filter((name) => JOB_ID_PATTERN.test(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async snapshot(id: string): Promise<JobSnapshot> {
    const [job, supervisor, started, cancel, exit] = await Promise.all([
      this.readJobJson<JobRecord>(id, JOB_FILES.job),
      this.readJobJson<SupervisorRecord>(id, JOB_FILES.supervisor),
      this.readJobJson<StartedRecord>(id, JOB_FILES.started),
      this.readJobJson<CancelRecord>(id, JOB_FILES.cancel),
      this.readJobJson<ExitRecord>(id, JOB_FILES.exit),
    ]);
    return { id, job, supervisor, started, cancel, exit };
  }

  readExit(id: string): Promise<ExitRecord | undefined> {
    return this.readJobJson<ExitRecord>(id, JOB_FILES.exit);
  }

  /** Writes a file of the job directory atomically with `mode`. */
  writeJobFile(id: string, name: string, data: string, mode = 0o600): Promise<void> {
    return this.files.writeFileAtomic(path.join(this.jobDir(id), name), data, { mode });
  }

  writeJobJson(id: string, name: string, value: unknown): Promise<void> {
    return this.writeJobFile(id, name, `${JSON.stringify(value, null, 2)}\n`);
  }

  private writeRootJson(name: string, value: unknown): Promise<void> {
    return this.files.writeFileAtomic(path.join(this.root, name), JSON.stringify(value), {
      mode: 0o600,
    });
  }

  private readJobJson<T>(id: string, name: string): Promise<T | undefined> {
    return this.readJson<T>(path.join(id, name));
  }

  /** A missing or unreadable record reads as absent; the status rules decide what that means. */
  private async readJson<T>(relative: string): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.root, relative), 'utf8')) as T;
    } catch {
      return undefined;
    }
  }
}
