/**
 * What every command-line adapter but Slurm's shares: running one scheduler command through the
 * CommandRunner seam with a timeout and the caller's signal, turning a runner that rejects into a
 * typed SchedulerError (or a reason, for status calls that must never throw), and asking the
 * login name once. Each adapter passes its own stderr reader, so messages and hints stay per tool.
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
import type { JobStatus } from './types.js';

export const DEFAULT_BATCH_TIMEOUT_MS = 30_000;

/** How one tool's stderr reads: the line worth quoting and what to do about it. */
export interface StderrReader {
  errorLine(stderr: string): string;
  hint(stderr: string): string | undefined;
}

export interface BatchCommandsOptions {
  /** SchedulerError.scheduler: "pbs", "lsf", "htcondor". */
  readonly scheduler: string;
  readonly clusterName?: string;
  readonly commandTimeoutMs?: number;
  readonly user?: string;
  readonly reader: StderrReader;
}

/** A command that ran (whatever its exit code), or why it could not. */
export type Attempt =
  | { readonly ran: true; readonly result: RunResult }
  | { readonly ran: false; readonly reason: string };

/** POSIX-ish login names, plus the "@" and trailing "$" some directory services use. */
const USER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$/;

export class BatchCommands {
  readonly cluster: string;
  readonly timeoutMs: number;
  private user: Promise<string> | undefined;

  constructor(
    private readonly runner: CommandRunner,
    private readonly options: BatchCommandsOptions,
  ) {
    this.cluster = options.clusterName ?? 'the cluster';
    this.timeoutMs = options.commandTimeoutMs ?? DEFAULT_BATCH_TIMEOUT_MS;
    if (options.user !== undefined) {
      checkUserName(options.user);
      this.user = Promise.resolve(options.user);
    }
  }

  run(
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

  /** Runs; a runner that rejects becomes a SchedulerError (HpcErrors pass through unchanged). */
  async runOrThrow(
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
        this.options.scheduler,
        { cause: error },
      );
    }
  }

  /** Runs; any failure but cancellation becomes a reason instead of an exception. */
  async attempt(
    command: string,
    argv: readonly string[],
    signal: AbortSignal | undefined,
  ): Promise<Attempt> {
    try {
      return { ran: true, result: await this.run(argv, signal) };
    } catch (error) {
      rethrowIfAborted(error, signal);
      const reason =
        error instanceof TimeoutError
          ? `${command} did not answer within ${Math.round(this.timeoutMs / 1000)} s on ${this.cluster}`
          : `${command} could not run on ${this.cluster}: ${messageOf(error)}`;
      return { ran: false, reason };
    }
  }

  /** Submission: a runner failure may still have queued the job, so say how to check. */
  async submit(
    command: string,
    argv: readonly string[],
    stdin: string,
    jobName: string,
    signal: AbortSignal | undefined,
  ): Promise<RunResult> {
    let result: RunResult;
    try {
      result = await this.run(argv, signal, stdin);
    } catch (error) {
      rethrowIfAborted(error, signal);
      throw new SchedulerError(
        `${command} on ${this.cluster} did not finish: ${messageOf(error)}`,
        this.options.scheduler,
        {
          cause: error,
          hint: `The job may have been submitted anyway; look for a job named "${jobName}" before submitting again.`,
        },
      );
    }
    if (result.code !== 0) throw this.failure(command, 'refused the job', result);
    return result;
  }

  /** Why a command that ran did not do its work, quoting the tool, with a hint when one fits. */
  failure(command: string, what: string, result: RunResult): SchedulerError {
    const line = this.options.reader.errorLine(result.stderr || result.stdout);
    const detail = line === '' ? `exit status ${String(result.code)}` : line;
    const hint = this.options.reader.hint(`${result.stderr}\n${result.stdout}`);
    return new SchedulerError(
      `${command} on ${this.cluster} ${what}: ${detail}`,
      this.options.scheduler,
      hint === undefined ? {} : { hint },
    );
  }

  /** The reason for a status call whose command ran and failed. */
  reasonOf(command: string, result: RunResult): string {
    const line = this.options.reader.errorLine(result.stderr || result.stdout);
    const detail = line === '' ? `exit status ${String(result.code)}` : line;
    return `${command} failed on ${this.cluster}: ${detail}`;
  }

  noIdError(command: string, stdout: string, jobName: string): SchedulerError {
    return new SchedulerError(
      `${command} on ${this.cluster} printed no job id: ${JSON.stringify(stdout.slice(0, 200))}`,
      this.options.scheduler,
      { hint: `Check whether a job named "${jobName}" exists before submitting again.` },
    );
  }

  /** The login name, asked once with `id -un`; a failed lookup is asked again next time. */
  userName(signal: AbortSignal | undefined): Promise<string> {
    if (this.user !== undefined) return this.user;
    const lookup = (async () => {
      const result = await this.runOrThrow('id', ['id', '-un'], signal);
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
}

/** Refuses ids a tool would not read as job ids before anything runs. */
export function checkIds(ids: readonly string[], pattern: RegExp, what: string): string[] {
  const unique = [...new Set(ids)];
  const bad = unique.find((id) => !pattern.test(id));
  if (bad !== undefined) {
    throw new InvalidInputError(`job id ${JSON.stringify(bad)} is not ${what}`);
  }
  return unique;
}

/** Ids as the caller gave them: the ones the tool can be asked about, and answers for the rest. */
export function splitIds(
  ids: readonly string[],
  pattern: RegExp,
  what: string,
): { wanted: string[]; result: Map<string, JobStatus> } {
  const result = new Map<string, JobStatus>();
  const wanted: string[] = [];
  for (const id of new Set(ids)) {
    if (pattern.test(id)) wanted.push(id);
    else result.set(id, unknownStatus(id, `${JSON.stringify(id)} is not ${what}`));
  }
  return { wanted, result };
}

/** An id we could not learn anything about, with the reason shown to the user. */
export function unknownStatus(id: string, reason: string, nativeState = ''): JobStatus {
  return { id, state: 'unknown', nativeState, reason };
}

export function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

function checkUserName(name: string): void {
  if (!USER_NAME.test(name) || name.length > 256) {
    throw new InvalidInputError(
      `user ${JSON.stringify(name)} is not a login name scheduler commands can be asked about: ` +
        'expected letters, digits and _ . @ -',
    );
  }
}

export function rethrowIfAborted(error: unknown, signal: AbortSignal | undefined): void {
  if (error instanceof AbortedError) throw error;
  if (signal?.aborted === true) throw new AbortedError(undefined, { cause: error });
}

export function messageOf(error: unknown): string {
  return error instanceof HpcError
    ? error.message
    : error instanceof Error
      ? error.message
      : String(error);
}

/** The first non-empty lines of a tool's message, de-duplicated and bounded, for quoting. */
export function quoteLines(text: string, strip: RegExp): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(strip, '').trim())
    .filter((l) => l !== '');
  const joined = [...new Set(lines)].slice(0, 4).join('; ');
  return joined.length > 500 ? `${joined.slice(0, 497)}...` : joined;
}

/** A shell-safe single-quoted word, for the one `cd` line a directive set may need. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
