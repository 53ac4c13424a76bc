/**
 * Starting a session: validate, make the session directory and its private files on the cluster,
 * persist `submitting`, submit as `hpcj-<id>`, record the job id. The order is what makes it
 * safe: the secret and job.env exist (0600) before the job can run, and the record is on disk
 * before the submit, so an agent that dies mid-submit finds the job again by name (session-sync).
 */
import { posix } from 'node:path';
import { ensureWorkdir } from '../clusters/workdir.js';
import {
  AbortedError,
  ConnectionLostError,
  HpcError,
  InvalidInputError,
  SessionError,
  throwIfAborted,
  TimeoutError,
} from '../errors.js';
import { sessionTitle, withClusterDefaults } from './job-renderer.js';
import { SESSION_FILES, sessionFile } from './remote-files.js';
import { jobNameFor, newSessionId } from './session-ids.js';
import type { SessionHost } from './session-host.js';
import { newSecret, secretFileFor } from './session-secrets.js';
import type { Mutable } from './session-transitions.js';
import type { SessionRecord, SessionSpec } from './types.js';

export async function startSession(
  host: SessionHost,
  spec: SessionSpec,
  signal?: AbortSignal,
): Promise<SessionRecord> {
  throwIfAborted(signal);
  // Everything that can be refused without touching the cluster's filesystem comes first, and
  // leaves no record behind.
  const { config, transport, scheduler } = host.clusters.get(spec.cluster);
  const template = await host.renderer.template(spec.template, signal);
  const siteInfo = await host.siteInfo.get(spec.cluster, scheduler, signal);
  throwIfAborted(signal);
  if (spec.kernelKey !== undefined && secretFileFor(template.kind) !== 'kernel-key') {
    throw new InvalidInputError(
      `A kernel key was given, but the template "${template.name}" does not start a kernel.`,
    );
  }
  const values = withClusterDefaults(template, spec.params ?? {}, config.defaults);
  const params = host.renderer.validate(template, values, siteInfo);

  const id = newSessionId();
  const jobName = jobNameFor(id);
  const workdir = await ensureWorkdir(config, transport, signal);
  const sessionDir = posix.join(workdir, 'sessions', id);
  const rendered = host.renderer.render(template, params, {
    sessionId: id,
    sessionDir,
    scheduler: scheduler.kind,
    jobName,
    ...(config.prologue === undefined ? {} : { prologue: config.prologue }),
    ...(config.python === undefined ? {} : { python: config.python }),
  });
  const resources = { ...rendered.resources, name: jobName };
  const now = host.now().toISOString();
  let record: SessionRecord = {
    id,
    cluster: spec.cluster,
    template: template.name,
    params,
    ...(spec.profile === undefined ? {} : { profile: spec.profile }),
    title: sessionTitle(template, spec.cluster, resources),
    jobName,
    sessionDir,
    state: 'submitting',
    createdAt: now,
    updatedAt: now,
    ...(resources.walltimeMinutes === undefined
      ? {}
      : { timeLimitMinutes: resources.walltimeMinutes }),
  };
  try {
    record = await host.commit(record, { durable: true });
  } catch (error) {
    // Without the record on disk a crash during the submit could lose the job: do not submit.
    await host.commit(failed(host.record(id) ?? record, error, host.now()));
    throw new SessionError(`Could not save session ${id}: ${message(error)}`, id, 'failed', {
      cause: error,
      hint: 'Check that the hpc-jupyter state directory is writable and not full.',
    });
  }

  let submitted = false;
  let jobId: string;
  try {
    const write = (name: string, data: string): Promise<void> =>
      transport.writeFileAtomic(sessionFile(sessionDir, name), data, {
        mode: 0o600,
        ...(signal ? { signal } : {}),
      });
    await transport.mkdir(sessionDir, { mode: 0o700, ...(signal ? { signal } : {}) });
    // The files are independent: written side by side, they cost one round trip, not three.
    const writes = [
      write(SESSION_FILES.env, rendered.envFile),
      write(SESSION_FILES.session, describe(record)),
    ];
    const secretFile = secretFileFor(template.kind);
    if (secretFile !== undefined) {
      const secret =
        secretFile === 'kernel-key' && spec.kernelKey !== undefined
          ? spec.kernelKey
          : newSecret(secretFile);
      // No trailing newline: the job reads the file as the secret, byte for byte.
      writes.push(host.secrets.write(id, secret), write(secretFile, secret));
    }
    await Promise.all(writes);
    throwIfAborted(signal);
    submitted = true;
    jobId = await scheduler.submit(
      { script: rendered.script, resources },
      signal ? { signal } : {},
    );
  } catch (error) {
    const current = host.record(id) ?? record;
    if (submitted && uncertain(error)) {
      // The job may exist: keep `submitting` and let the next poll look for it by name.
      host.recovering.add(id);
      if (error instanceof AbortedError) host.stopRequested.add(id);
      await host.commit({ ...current, reason: 'checking whether the job was submitted' });
      host.kick(spec.cluster, 0);
    } else {
      await host.commit(failed(current, error, host.now()));
    }
    if (error instanceof AbortedError) throw error;
    throw new SessionError(
      `Could not start session ${id} (${template.name} on ${spec.cluster}): ${message(error)}`,
      id,
      host.record(id)?.state,
      { cause: error, ...(error instanceof HpcError && error.hint ? { hint: error.hint } : {}) },
    );
  }
  return afterSubmit(host, id, jobId);
}

/** Records the job id; a stop asked for during the submit is carried out now. */
async function afterSubmit(host: SessionHost, id: string, jobId: string): Promise<SessionRecord> {
  const current = host.record(id);
  if (current === undefined) throw new SessionError(`Session ${id} was removed.`, id, undefined);
  const stop = host.stopRequested.has(id);
  const next: Mutable<SessionRecord> = { ...current, jobId, state: stop ? 'stopping' : 'queued' };
  delete next.reason;
  if (stop) {
    try {
      await host.clusters.get(current.cluster).scheduler.cancel([jobId]);
    } catch (error) {
      host.stopRequested.delete(id);
      next.state = 'queued';
      next.reason = `the stop asked for during submission failed: ${message(error)}`;
    }
  }
  const saved = await host.commit(next);
  host.kick(current.cluster);
  return saved;
}

/** Errors after which the submit may or may not have reached the batch system. */
function uncertain(error: unknown): boolean {
  return (
    error instanceof AbortedError ||
    error instanceof TimeoutError ||
    error instanceof ConnectionLostError
  );
}

function failed(record: SessionRecord, error: unknown, now: Date): SessionRecord {
  return {
    ...record,
    state: 'failed',
    reason: message(error),
    endedAt: now.toISOString(),
  };
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** session.json in the session directory: what was asked, never a secret. */
function describe(record: SessionRecord): string {
  const { id, cluster, template, params, profile, title, jobName, createdAt } = record;
  return `${JSON.stringify({ id, cluster, template, params, profile, title, jobName, createdAt }, null, 2)}\n`;
}
