/**
 * The LSF adapter: submit (bsub, script on stdin), batched status (one bjobs -json), cancel
 * (bkill), site info (bqueues, bhosts, bparams) and job discovery, through the CommandRunner seam
 * with argv arrays. Command lines are in commands.ts, parsing in parse.ts.
 */

import { SchedulerError, throwIfAborted } from '../../errors.js';
import type { CommandRunner } from '../../transport/types.js';
import { BatchCommands, checkIds, splitIds, unknownStatus } from '../batch-commands.js';
import {
  FINAL_STATES,
  type JobStatus,
  type OperationOptions,
  type Scheduler,
  type SiteInfo,
  type SubmitRequest,
} from '../types.js';
import {
  bhostsArgv,
  bjobsArgv,
  bjobsMineArgv,
  bkillArgv,
  bparamsArgv,
  bqueuesArgv,
  bsubArgv,
} from './commands.js';
import { renderLsfScript } from './directives.js';
import { LSF_STDERR, classifyBkill, isLsfUnreachable } from './errors.js';
import {
  LSF_JOB_ID,
  LsfParseError,
  findLsfRecord,
  parseBjobs,
  parseBsub,
  parseDefaultQueue,
  parseLsfRecords,
  queuesToPartitions,
  recordToStatus,
} from './parse.js';

export interface LsfSchedulerOptions {
  readonly user?: string;
  readonly commandTimeoutMs?: number;
  readonly clusterName?: string;
  /** Decides the year of LSF's year-less times; tests pin it. */
  readonly now?: () => Date;
}

const ID_WHAT = 'an LSF job id: expected digits, optionally [N] for an array element';

export class LsfScheduler implements Scheduler {
  readonly kind = 'lsf' as const;
  private readonly commands: BatchCommands;
  private readonly now: () => Date;

  constructor(runner: CommandRunner, options: LsfSchedulerOptions = {}) {
    this.now = options.now ?? (() => new Date());
    this.commands = new BatchCommands(runner, {
      scheduler: 'lsf',
      reader: LSF_STDERR,
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.clusterName === undefined ? {} : { clusterName: options.clusterName }),
      ...(options.commandTimeoutMs === undefined
        ? {}
        : { commandTimeoutMs: options.commandTimeoutMs }),
    });
  }

  async submit(request: SubmitRequest, options: OperationOptions = {}): Promise<string> {
    throwIfAborted(options.signal);
    const script = renderLsfScript(request.script, request.resources);
    const result = await this.commands.submit(
      'bsub',
      bsubArgv(),
      script,
      request.resources.name,
      options.signal,
    );
    const id = parseBsub(result.stdout);
    if (id === undefined)
      throw this.commands.noIdError('bsub', result.stdout, request.resources.name);
    return id;
  }

  /**
   * One bjobs for all ids. Ids it does not know come back as ERROR records (or "is not found"
   * on stderr, with a non-zero exit) while the others are answered, so stdout is always read.
   */
  async status(
    ids: readonly string[],
    options: OperationOptions = {},
  ): Promise<Map<string, JobStatus>> {
    throwIfAborted(options.signal);
    const { wanted, result } = splitIds(ids, LSF_JOB_ID, ID_WHAT);
    if (wanted.length === 0) return result;
    const attempt = await this.commands.attempt('bjobs', bjobsArgv(wanted), options.signal);
    if (!attempt.ran) {
      for (const id of wanted) result.set(id, unknownStatus(id, attempt.reason));
      return result;
    }
    const { stdout, stderr, code } = attempt.result;
    let parsed;
    try {
      parsed = parseBjobs(stdout, stderr, this.now());
    } catch (error) {
      if (!(error instanceof LsfParseError)) throw error;
      for (const id of wanted)
        result.set(id, unknownStatus(id, `${error.message} on ${this.commands.cluster}`));
      return result;
    }
    const gone = new Set(parsed.notFound);
    const failed =
      isLsfUnreachable(stderr) || (code !== 0 && parsed.records.length === 0 && gone.size === 0);
    for (const id of wanted) {
      const record = findLsfRecord(parsed.records, id);
      if (record !== undefined) result.set(id, recordToStatus(record));
      else if (failed)
        result.set(id, unknownStatus(id, this.commands.reasonOf('bjobs', attempt.result)));
      else if (gone.has(id)) {
        result.set(
          id,
          unknownStatus(
            id,
            'LSF no longer knows this job: it ended longer ago than CLEAN_PERIOD (bhist may still have it), or never existed',
          ),
        );
      } else result.set(id, unknownStatus(id, 'bjobs did not mention this job'));
    }
    return result;
  }

  async cancel(ids: readonly string[], options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const unique = checkIds(ids, LSF_JOB_ID, ID_WHAT);
    if (unique.length === 0) return;
    const result = await this.commands.runOrThrow('bkill', bkillArgv(unique), options.signal);
    if (result.code === 0) return;
    const { ignored, errors } = classifyBkill(result.stderr);
    if (errors.length > 0 || ignored.length === 0) {
      throw this.commands.failure('bkill', 'could not cancel', {
        ...result,
        stderr: errors.join('\n') || result.stderr,
      });
    }
  }

  async siteInfo(options: OperationOptions = {}): Promise<SiteInfo> {
    const { signal } = options;
    throwIfAborted(signal);
    const user = await this.commands.userName(signal);
    const [queues, hosts, params] = await Promise.all([
      this.commands.runOrThrow('bqueues', bqueuesArgv(), signal),
      this.commands.attempt('bhosts', bhostsArgv(), signal),
      this.commands.attempt('bparams', bparamsArgv(), signal),
    ]);
    if (queues.code !== 0) throw this.commands.failure('bqueues', 'could not list queues', queues);
    try {
      const hostRows =
        hosts.ran && hosts.result.code === 0 ? parseLsfRecords(hosts.result.stdout) : [];
      const defaultQueue =
        params.ran && params.result.code === 0
          ? parseDefaultQueue(params.result.stdout)
          : undefined;
      // LSF keeps no per-user list of projects; the form takes a free-text project.
      return {
        partitions: queuesToPartitions(parseLsfRecords(queues.stdout), hostRows, defaultQueue),
        accounts: [],
        qos: [],
        user,
      };
    } catch (error) {
      throw new SchedulerError(
        `bqueues on ${this.commands.cluster} printed JSON that could not be read: ${(error as Error).message}`,
        'lsf',
        { cause: error },
      );
    }
  }

  /** This user's unfinished jobs whose name starts with the prefix; throws when bjobs fails. */
  async listJobs(namePrefix: string, options: OperationOptions = {}): Promise<JobStatus[]> {
    const { signal } = options;
    throwIfAborted(signal);
    const result = await this.commands.runOrThrow('bjobs', bjobsMineArgv(), signal);
    // "No unfinished job found" exits non-zero with nothing on stdout: an empty answer, not a failure.
    if (result.code !== 0 && !/no unfinished job found/i.test(result.stderr)) {
      throw this.commands.failure('bjobs', 'could not list jobs', result);
    }
    let parsed;
    try {
      parsed = parseBjobs(result.stdout, '', this.now());
    } catch (error) {
      throw new SchedulerError(`${(error as Error).message} on ${this.commands.cluster}`, 'lsf', {
        cause: error,
      });
    }
    return parsed.records
      .filter((r) => r.name?.startsWith(namePrefix) === true)
      .map(recordToStatus)
      .filter((s) => !FINAL_STATES.has(s.state));
  }
}
