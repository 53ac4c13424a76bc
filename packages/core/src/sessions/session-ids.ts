/**
 * Session ids and job names: how a session is named locally (`s` + 12 hex digits, `d` + job id for
 * jobs found on a cluster) and on the batch system (`hpcj-<id>`), and how to tell them apart again.
 * Ids become file names in the store and path components on the cluster, so every id that reaches
 * a path has passed `isSessionId`.
 */
import { randomBytes } from 'node:crypto';

/** The prefix of every job we submit; `discover` lists jobs by it. */
export const JOB_NAME_PREFIX = 'hpcj-';

/** Any id the store accepts: ours and those made for discovered jobs. */
export const SESSION_ID_PATTERN = /^[a-z][A-Za-z0-9_-]{1,63}$/;

/** Ids this code generates for the sessions it submits. */
export const OWN_ID_PATTERN = /^s[0-9a-f]{12}$/;

export function newSessionId(): string {
  return `s${randomBytes(6).toString('hex')}`;
}

export function isSessionId(id: string): boolean {
  return SESSION_ID_PATTERN.test(id);
}

export function jobNameFor(id: string): string {
  return `${JOB_NAME_PREFIX}${id}`;
}

/** The session id inside a job name of our format (`hpcj-s0123456789ab`), else undefined. */
export function idFromJobName(name: string | undefined): string | undefined {
  if (name?.startsWith(JOB_NAME_PREFIX) !== true) return undefined;
  const id = name.slice(JOB_NAME_PREFIX.length);
  return OWN_ID_PATTERN.test(id) ? id : undefined;
}

/**
 * The id for a job found on a cluster whose name is not of our format: `d` + the job id, with
 * anything that cannot be in a file name (array-job brackets, dots) turned into `-`.
 */
export function discoveredId(jobId: string): string {
  return `d${jobId.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 60)}`;
}
