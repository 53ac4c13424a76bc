/**
 * Support for the session tests (not used by the library): tiny templates whose bodies are shell
 * text, the real `local` cluster in a temporary directory, and a scheduler fake that counts its
 * calls and can be told to fail or to answer `unknown`, for the states a real one won't produce
 * on demand.
 */
import path from 'node:path';
import type { OpenCluster } from '../clusters/connections.js';
import type { ClusterConfig } from '../config/types.js';
import { InvalidInputError, SchedulerError } from '../errors.js';
import { LocalScheduler } from '../schedulers/local.js';
import type {
  JobState,
  JobStatus,
  OperationOptions,
  Scheduler,
  SiteInfo,
  SubmitRequest,
} from '../schedulers/types.js';
import { LocalTransport } from '../transport/local.js';
import type { JobRenderer, SessionTemplate } from './job-renderer.js';
import type { ClusterSource } from './session-host.js';
import type { ParamValue } from './types.js';

export interface ScriptTemplate extends SessionTemplate {
  /** Shell text run in the session directory after job.env is sourced. */
  readonly body: string;
  /** Parameter names it accepts (all passed as HPCJ_PARAM_<NAME> in job.env). */
  readonly params?: readonly string[];
  readonly walltimeMinutes?: number;
}

/** A renderer over hand-written templates: `#!/bin/bash`, source ./job.env, run the body. */
export function scriptRenderer(templates: readonly ScriptTemplate[]): JobRenderer<ScriptTemplate> {
  const byName = new Map(templates.map((t) => [t.name, t]));
  return {
    template(name) {
      const t = byName.get(name);
      if (t === undefined) return Promise.reject(new InvalidInputError(`No template "${name}".`));
      return Promise.resolve(t);
    },
    validate(template, values) {
      const out: Record<string, ParamValue> = {};
      for (const [k, v] of Object.entries(values)) {
        if (!(template.params ?? []).includes(k)) {
          throw new InvalidInputError(`${k} is not a parameter of ${template.name}`);
        }
        if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
          throw new InvalidInputError(`${k} must be a string, number or boolean`);
        }
        out[k] = v;
      }
      return out;
    },
    render(template, values, context) {
      const env = [
        `HPCJ_SESSION_ID='${context.sessionId}'`,
        ...Object.entries(values).map(
          ([k, v]) => `HPCJ_PARAM_${k.toUpperCase()}='${String(v).replace(/'/g, `'\\''`)}'`,
        ),
      ];
      return {
        script: `#!/bin/bash\nset -a\n. ./job.env\nset +a\n${template.body}\n`,
        resources: {
          name: context.jobName ?? `hpcj-${context.sessionId}`,
          workdir: context.sessionDir,
          output: `${context.sessionDir}/job.log`,
          ...(template.walltimeMinutes === undefined
            ? {}
            : { walltimeMinutes: template.walltimeMinutes }),
        },
        envFile: `${env.join('\n')}\n`,
      };
    },
  };
}

/** Clusters by name from fixed parts: a fake, or the real local ones. */
export function clusterSource(clusters: Readonly<Record<string, OpenCluster>>): ClusterSource {
  return {
    get(name) {
      const c = clusters[name];
      if (c === undefined) throw new InvalidInputError(`No cluster named "${name}".`);
      return c;
    },
  };
}

export function clusterConfig(name: string, workdir: string, scheduler: Scheduler): ClusterConfig {
  return { name, scheduler: scheduler.kind, workdir };
}

/** The real local scheduler and transport, with all state under `root`. */
export function localCluster(root: string, name = 'local'): OpenCluster {
  const scheduler = new LocalScheduler({
    stateDir: path.join(root, 'local-jobs'),
    killGraceSeconds: 1,
  });
  return {
    config: clusterConfig(name, path.join(root, 'work'), scheduler),
    transport: new LocalTransport({ killGraceMs: 200 }),
    scheduler,
  };
}

/** A scheduler whose jobs are whatever the test says, counting every call. */
export class FakeScheduler implements Scheduler {
  readonly kind = 'slurm' as const;
  readonly jobs = new Map<string, JobStatus>();
  /** The ids of every status call, in order. */
  readonly statusCalls: string[][] = [];
  readonly cancelled: string[] = [];
  readonly submitted: SubmitRequest[] = [];
  submitCount = 0;
  /** When set, every status call throws it. */
  failStatus: Error | undefined;
  failSubmit: Error | undefined;
  failSiteInfo = false;
  private nextId = 1000;

  submit(request: SubmitRequest): Promise<string> {
    if (this.failSubmit !== undefined) return Promise.reject(this.failSubmit);
    const id = String(this.nextId++);
    this.submitted.push(request);
    this.submitCount += 1;
    this.set(id, 'queued', { name: request.resources.name, reason: 'Priority' });
    return Promise.resolve(id);
  }

  status(ids: readonly string[], options: OperationOptions = {}): Promise<Map<string, JobStatus>> {
    this.statusCalls.push([...ids]);
    if (options.signal?.aborted === true) return Promise.reject(new Error('aborted'));
    if (this.failStatus !== undefined) return Promise.reject(this.failStatus);
    const out = new Map<string, JobStatus>();
    for (const id of ids) {
      out.set(id, this.jobs.get(id) ?? { id, state: 'unknown', nativeState: 'UNKNOWN' });
    }
    return Promise.resolve(out);
  }

  cancel(ids: readonly string[]): Promise<void> {
    this.cancelled.push(...ids);
    for (const id of ids) {
      const job = this.jobs.get(id);
      if (job !== undefined) this.set(id, 'cancelled', { name: job.name });
    }
    return Promise.resolve();
  }

  siteInfo(): Promise<SiteInfo> {
    if (this.failSiteInfo) return Promise.reject(new SchedulerError('sinfo failed', 'slurm'));
    return Promise.resolve({ partitions: [], accounts: [], qos: [], user: 'test' });
  }

  listJobs(namePrefix: string): Promise<JobStatus[]> {
    return Promise.resolve(
      [...this.jobs.values()].filter(
        (j) =>
          j.name?.startsWith(namePrefix) === true &&
          !['completed', 'failed', 'cancelled', 'timed-out'].includes(j.state),
      ),
    );
  }

  /** Sets a job's state (and anything else of its status). */
  set(id: string, state: JobState, extra: Partial<JobStatus> = {}): void {
    this.jobs.set(id, {
      ...this.jobs.get(id),
      id,
      state,
      nativeState: state.toUpperCase(),
      ...extra,
    });
  }
}

/** Resolves when `check` passes, polling every 20 ms; throws after `ms`. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
