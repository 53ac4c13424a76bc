/**
 * Finding our jobs that the store does not know (submitted by another machine's agent, or before
 * the store was lost) and taking them over. A found job becomes a `discovered` record: polled for
 * its job state with the others, stoppable, but not looked into until adopted. Adopting reads
 * the session's secret back from its session directory, so its Jupyter server or kernel can be
 * used from here.
 */
import { posix } from 'node:path';
import { DEFAULT_WORKDIR, remoteHome } from '../clusters/workdir.js';
import type { ClusterConfig } from '../config/types.js';
import { SessionNotFoundError, throwIfAborted } from '../errors.js';
import type { JobStatus } from '../schedulers/types.js';
import type { Transport } from '../transport/types.js';
import { readOptional, SESSION_FILES, sessionFile } from './remote-files.js';
import { discoveredId, idFromJobName, JOB_NAME_PREFIX } from './session-ids.js';
import type { SessionHost } from './session-host.js';
import { secretFileFor, type SecretFile } from './session-secrets.js';
import type { Mutable } from './session-transitions.js';
import type { ParamValue, SessionRecord } from './types.js';

export async function discoverSessions(
  host: SessionHost,
  cluster: string,
  signal?: AbortSignal,
): Promise<SessionRecord[]> {
  throwIfAborted(signal);
  const { config, transport, scheduler } = host.clusters.get(cluster);
  const jobs = await scheduler.listJobs(JOB_NAME_PREFIX, signal ? { signal } : {});
  const found: SessionRecord[] = [];
  for (const job of jobs) {
    throwIfAborted(signal);
    const known = host.all().some((r) => r.cluster === cluster && r.jobId === job.id);
    if (known || job.name === undefined) continue;
    const ownId = idFromJobName(job.name);
    // A stored session with that id but no job id yet is being submitted or recovered.
    if (ownId !== undefined && host.record(ownId) !== undefined) continue;
    const id = ownId ?? discoveredId(job.id);
    if (host.record(id) !== undefined) continue;
    const sessionDir =
      ownId === undefined
        ? undefined
        : posix.join(await workdirPath(config, transport, signal), 'sessions', ownId);
    const described =
      sessionDir === undefined ? undefined : await readDescription(transport, sessionDir, signal);
    const record = await host.commit(
      discovered(id, cluster, job, sessionDir, described, host.now()),
    );
    found.push(record);
  }
  if (found.length > 0) host.kick(cluster);
  return found;
}

/** Takes a discovered session in as our own; a session that is ours already is returned as is. */
export async function adoptSession(
  host: SessionHost,
  id: string,
  signal?: AbortSignal,
): Promise<SessionRecord> {
  throwIfAborted(signal);
  const record = host.record(id);
  if (record === undefined) throw new SessionNotFoundError(id);
  if (record.discovered !== true) return record;
  if (record.sessionDir !== undefined && (await host.secrets.read(id)) === undefined) {
    const { transport } = host.clusters.get(record.cluster);
    const kind = secretFileFor(record.template === 'kernel' ? 'kernel' : 'server');
    const order: SecretFile[] =
      kind === 'kernel-key' ? ['kernel-key', 'token'] : ['token', 'kernel-key'];
    for (const file of order) {
      const data = await readOptional(transport, sessionFile(record.sessionDir, file), signal);
      if (data !== undefined && data.length > 0) {
        await host.secrets.write(id, data.toString('utf8').trim());
        break;
      }
    }
  }
  const current = host.record(id) ?? record;
  const next: Mutable<SessionRecord> = { ...current };
  delete next.discovered;
  const saved = await host.commit(next);
  // Looked at afresh: a running job of ours may well be ready already.
  host.recheck.add(id);
  host.kick(record.cluster, 0);
  return saved;
}

interface Description {
  readonly template?: string;
  readonly params?: Record<string, ParamValue>;
  readonly profile?: string;
  readonly title?: string;
  readonly createdAt?: string;
}

function discovered(
  id: string,
  cluster: string,
  job: JobStatus,
  sessionDir: string | undefined,
  d: Description | undefined,
  now: Date,
): SessionRecord {
  const created = d?.createdAt ?? job.submitTime?.toISOString() ?? now.toISOString();
  return {
    id,
    cluster,
    template: d?.template ?? 'unknown',
    params: d?.params ?? {},
    ...(d?.profile === undefined ? {} : { profile: d.profile }),
    title: d?.title ?? `${job.name ?? id} (job ${job.id})`,
    jobName: job.name ?? '',
    jobId: job.id,
    ...(sessionDir === undefined ? {} : { sessionDir }),
    state: job.state,
    ...(job.reason === undefined ? {} : { reason: job.reason }),
    createdAt: created,
    updatedAt: now.toISOString(),
    ...(job.expectedStart === undefined ? {} : { expectedStart: job.expectedStart.toISOString() }),
    ...(job.startTime === undefined ? {} : { startedAt: job.startTime.toISOString() }),
    ...(job.timeLimitMinutes === undefined ? {} : { timeLimitMinutes: job.timeLimitMinutes }),
    ...(job.nodes === undefined ? {} : { nodes: [...job.nodes] }),
    discovered: true,
  };
}

/** session.json of a session directory, if it is there and readable; never an error. */
async function readDescription(
  transport: Transport,
  sessionDir: string,
  signal?: AbortSignal,
): Promise<Description | undefined> {
  try {
    const data = await readOptional(
      transport,
      sessionFile(sessionDir, SESSION_FILES.session),
      signal,
    );
    if (data === undefined) return undefined;
    const value: unknown = JSON.parse(data.toString('utf8'));
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined);
    const params =
      typeof v['params'] === 'object' && v['params'] !== null && !Array.isArray(v['params'])
        ? (v['params'] as Record<string, ParamValue>)
        : undefined;
    const template = str('template');
    const profile = str('profile');
    const title = str('title');
    const createdAt = str('createdAt');
    return {
      ...(template === undefined ? {} : { template }),
      ...(params === undefined ? {} : { params }),
      ...(profile === undefined ? {} : { profile }),
      ...(title === undefined ? {} : { title }),
      ...(createdAt === undefined ? {} : { createdAt }),
    };
  } catch {
    return undefined;
  }
}

/** The cluster's workdir as an absolute path, without creating it (as `ensureWorkdir` would). */
async function workdirPath(
  config: ClusterConfig,
  transport: Transport,
  signal?: AbortSignal,
): Promise<string> {
  const configured = config.workdir ?? DEFAULT_WORKDIR;
  if (configured === '~' || configured.startsWith('~/')) {
    return posix.join(await remoteHome(transport, signal), configured.slice(1));
  }
  return configured;
}
