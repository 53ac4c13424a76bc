/**
 * The Slurm adapter: submit, batched status, cancel, site info and job discovery, all through
 * the CommandRunner seam with argv arrays. The command lines live in slurm-commands.ts, parsing in
 * slurm-parse.ts and slurm-site-parse.ts, and how squeue and sacct answers combine in
 * slurm-status.ts; this file only runs commands and turns failures into typed errors.
 */

import {
  AbortedError,
  HpcError,
  InvalidInputError,
  SchedulerError,
  TimeoutError,
  throwIfAborted,
} from '../errors.js';
import type { CommandRunner, RunResult } from '../transport/types.js';
import {
  sacctArgv,
  sacctmgrAssocArgv,
  sacctmgrUserArgv,
  sbatchArgv,
  scancelArgv,
  sinfoArgv,
  squeueArgv,
  whoamiArgv,
} from './slurm-commands.js';
import { insertDirectives, renderSlurmDirectives } from './slurm-directives.js';
import { isAccountingDisabled, slurmErrorLine, slurmHint } from './slurm-errors.js';
import {
  SLURM_JOB_ID,
  classifyScancelErrors,
  parseSbatch,
  parseSqueue,
  recordToStatus,
} from './slurm-parse.js';
import {
  parseSacctmgrAssociations,
  parseSacctmgrDefaultAccount,
  parseSinfo,
} from './slurm-site-parse.js';
import { type CommandOutcome, addAccounting, splitIds, statusFromQueue } from './slurm-status.js';
import {
  FINAL_STATES,
  type JobStatus,
  type OperationOptions,
  type Scheduler,
  type SiteInfo,
  type SubmitRequest,
} from './types.js';

export interface SlurmSchedulerOptions {
  /** The cluster login name; when absent it is asked once with `id -un`. */
  readonly user?: string;
  /** Per command; default 30 s. */
  readonly commandTimeoutMs?: number;
  /** For messages: "sbatch on <clusterName> refused the job". */
  readonly clusterName?: string;
  /** The clock that tells a pending job's estimated start from a stale one; tests pin it. */
  readonly now?: () => Date;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** POSIX-ish login names, plus the "@" and trailing "$" some directory services use. */
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$/;

export class SlurmScheduler implements Scheduler {
  readonly kind = 'slurm' as const;
  private readonly timeoutMs: number;
  private readonly cluster: string;
  private readonly now: () => Date;
  private user: Promise<string> | undefined;

  constructor(
    private readonly runner: CommandRunner,
    options: SlurmSchedulerOptions = {},
  ) {
    this.timeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    this.cluster = options.clusterName ?? 'the cluster';
    this.now = options.now ?? (() => new Date());
    if (options.user !== undefined) {
      checkUserName(options.user);
      this.user = Promise.resolve(options.user);
    }
  }

  async submit(request: SubmitRequest, options: OperationOptions = {}): Promise<string> {
    const { signal } = options;
    throwIfAborted(signal);
    // Both throw InvalidInputError before anything runs.
    const directives = renderSlurmDirectives(request.resources);
    const script = insertDirectives(request.script, directives);
    let result: RunResult;
    try {
      result = await this.run(sbatchArgv(), signal, script);
    } catch (error) {
      rethrowIfAborted(error, signal);
      // The request may have reached slurmctld before the connection or the clock ran out.
      throw new SchedulerError(
        `sbatch on ${this.cluster} did not finish: ${messageOf(error)}`,
        'slurm',
        {
          cause: error,
          hint: `The job may have been submitted anyway; look for a job named "${request.resources.name}" before submitting again.`,
        },
      );
    }
    if (result.code !== 0) throw this.failure('sbatch', 'refused the job', result);
    const parsed = parseSbatch(result.stdout);
    if (parsed === undefined) {
      throw new SchedulerError(
        `sbatch on ${this.cluster} printed no job id: ${JSON.stringify(result.stdout.slice(0, 200))}`,
        'slurm',
        { hint: `Check with squeue whether a job named "${request.resources.name}" exists.` },
      );
    }
    return parsed.jobId;
  }

  /**
   * One squeue for all ids (this user's jobs, every state), then at most one sacct for the ids
   * squeue no longer shows and for those it shows as finished (for their exit codes). Never
   * throws for a cluster that does not answer: those ids are `unknown` with the reason.
   */
  async status(
    ids: readonly string[],
    options: OperationOptions = {},
  ): Promise<Map<string, JobStatus>> {
    const { signal } = options;
    throwIfAborted(signal);
    const { wanted, result } = splitIds(ids);
    if (wanted.length === 0) return result;
    const squeue = await this.attempt(
      'squeue',
      async () => squeueArgv(await this.userName(signal)),
      signal,
    );
    const now = this.now();
    const { toAccount } = statusFromQueue(wanted, squeue, now, result);
    if (toAccount.length > 0) {
      const sacct = await this.attempt(
        'sacct',
        () => Promise.resolve(sacctArgv(toAccount)),
        signal,
      );
      addAccounting(toAccount, sacct, now, result);
    }
    return result;
  }

  async cancel(ids: readonly string[], options: OperationOptions = {}): Promise<void> {
    const { signal } = options;
    throwIfAborted(signal);
    const unique = [...new Set(ids)];
    const bad = unique.find((id) => !SLURM_JOB_ID.test(id));
    if (bad !== undefined) {
      throw new InvalidInputError(
        `job id ${JSON.stringify(bad)} is not a Slurm job id: expected digits, optionally with _N (array task) or +N (het component)`,
      );
    }
    if (unique.length === 0) return;
    const result = await this.runOrThrow('scancel', scancelArgv(unique), signal);
    const { ignored, errors } = classifyScancelErrors(result.stderr);
    // Jobs that already ended are what the caller wanted; anything else is a real failure.
    if (errors.length > 0 || (result.code !== 0 && ignored.length === 0)) {
      throw this.failure('scancel', 'could not cancel', {
        ...result,
        stderr: errors.join('\n') || result.stderr,
      });
    }
  }

  async siteInfo(options: OperationOptions = {}): Promise<SiteInfo> {
    const { signal } = options;
    throwIfAborted(signal);
    const user = await this.userName(signal);
    const [partitions, assoc, defaults] = await Promise.all([
      this.runOrThrow('sinfo', sinfoArgv(), signal),
      // No accounting (or no sacctmgr) means no accounts or QOS to offer, not an error.
      this.attempt('sacctmgr', () => Promise.resolve(sacctmgrAssocArgv(user)), signal),
      this.attempt('sacctmgr', () => Promise.resolve(sacctmgrUserArgv(user)), signal),
    ]);
    if (partitions.code !== 0) throw this.failure('sinfo', 'could not list partitions', partitions);
    const { accounts, qos } = assoc.ok
      ? parseSacctmgrAssociations(assoc.stdout)
      : { accounts: [], qos: [] };
    const defaultAccount = defaults.ok ? parseSacctmgrDefaultAccount(defaults.stdout) : undefined;
    return {
      partitions: parseSinfo(partitions.stdout),
      accounts,
      qos,
      user,
      ...(defaultAccount === undefined ? {} : { defaultAccount }),
    };
  }

  /** Throws when squeue fails: an empty list would wrongly say that no jobs of ours exist. */
  async listJobs(namePrefix: string, options: OperationOptions = {}): Promise<JobStatus[]> {
    const { signal } = options;
    throwIfAborted(signal);
    const user = await this.userName(signal);
    const result = await this.runOrThrow('squeue', squeueArgv(user), signal);
    if (result.code !== 0) throw this.failure('squeue', 'could not list jobs', result);
    const now = this.now();
    return parseSqueue(result.stdout)
      .records.filter((r) => r.name?.startsWith(namePrefix) === true)
      .map((r) => recordToStatus(r, now))
      .filter((s) => !FINAL_STATES.has(s.state));
  }

  /** The login name, asked once; a failed lookup (connection down, aborted) is asked again. */
  private userName(signal: AbortSignal | undefined): Promise<string> {
    if (this.user !== undefined) return this.user;
    const lookup = (async () => {
      const result = await this.runOrThrow('id', whoamiArgv(), signal);
      const name = result.stdout.trim();
      if (result.code !== 0 || name === '') {
        throw this.failure('id -un', 'could not tell the login name', result);
      }
      checkUserName(name);
      return name;
    })();
    this.user = lookup;
    lookup.catch(() => {
      if (this.user === lookup) this.user = undefined;
    });
    return lookup;
  }

  private run(
    argv: readonly string[],
    signal: AbortSignal | undefined,
    stdin?: string,
  ): Promise<RunResult> {
    throwIfAborted(signal);
    return this.runner.run(argv, {
      timeout: this.timeoutMs,
      ...(signal === undefined ? {} : { signal }),
      ...(stdin === undefined ? {} : { stdin }),
    });
  }

  /** Runs; a runner that rejects becomes a typed error (HpcErrors pass through unchanged). */
  private async runOrThrow(
    command: string,
    argv: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<RunResult> {
    try {
      return await this.run(argv, signal);
    } catch (error) {
      rethrowIfAborted(error, signal);
      if (error instanceof HpcError) throw error;
      throw new SchedulerError(
        `${command} on ${this.cluster} could not run: ${messageOf(error)}`,
        'slurm',
        {
          cause: error,
        },
      );
    }
  }

  /** Runs; any failure but cancellation becomes a reason instead of an exception. */
  private async attempt(
    command: string,
    argv: () => Promise<string[]>,
    signal: AbortSignal | undefined,
  ): Promise<CommandOutcome> {
    try {
      const result = await this.run(await argv(), signal);
      if (result.code === 0) return { ok: true, stdout: result.stdout };
      const line = slurmErrorLine(result.stderr);
      const detail = line === '' ? `exit status ${String(result.code)}` : line;
      return {
        ok: false,
        reason: `${command} failed on ${this.cluster}: ${detail}`,
        accountingDisabled: isAccountingDisabled(result.stderr),
      };
    } catch (error) {
      rethrowIfAborted(error, signal);
      const reason =
        error instanceof TimeoutError
          ? `${command} did not answer within ${Math.round(this.timeoutMs / 1000)} s on ${this.cluster}`
          : `${command} could not run on ${this.cluster}: ${messageOf(error)}`;
      return { ok: false, reason };
    }
  }

  private failure(command: string, what: string, result: RunResult): SchedulerError {
    const line = slurmErrorLine(result.stderr);
    const detail = line === '' ? `exit status ${String(result.code)}` : line;
    const hint = slurmHint(result.stderr);
    return new SchedulerError(
      `${command} on ${this.cluster} ${what}: ${detail}`,
      'slurm',
      hint === undefined ? {} : { hint },
    );
  }
}

function checkUserName(name: string): void {
  if (!USER_NAME.test(name) || name.length > 256) {
    throw new InvalidInputError(
      `user ${JSON.stringify(name)} is not a login name Slurm commands can be asked about: ` +
        'expected letters, digits and _ . @ -',
    );
  }
}

function rethrowIfAborted(error: unknown, signal: AbortSignal | undefined): void {
  if (error instanceof AbortedError) throw error;
  if (signal?.aborted === true) throw new AbortedError(undefined, { cause: error });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
