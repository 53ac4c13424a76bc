/**
 * The HTCondor adapter: submit (the job script written to the work directory, the submit
 * description on condor_submit's stdin), batched status (condor_q, then condor_history for jobs
 * that left the queue), cancel (condor_rm), site info (condor_status) and job discovery, through
 * the CommandRunner seam with argv arrays.
 */

import { randomBytes } from 'node:crypto';
import { InvalidInputError, SchedulerError, throwIfAborted } from '../../errors.js';
import type { CommandRunner, FileTransport } from '../../transport/types.js';
import { BatchCommands, checkIds, splitIds, unknownStatus } from '../batch-commands.js';
import { insertHeader } from '../directive-checks.js';
import { validateResources } from '../resources.js';
import {
  FINAL_STATES,
  type JobStatus,
  type OperationOptions,
  type Scheduler,
  type SiteInfo,
  type SubmitRequest,
} from '../types.js';
import {
  condorHistoryArgv,
  condorQArgv,
  condorQMineArgv,
  condorRmArgv,
  condorStatusArgv,
  condorSubmitArgv,
} from './commands.js';
import { renderSubmitDescription } from './directives.js';
import { HTCONDOR_STDERR, classifyCondorRm, isHtcondorUnreachable } from './errors.js';
import {
  HTCONDOR_JOB_ID,
  HtcondorParseError,
  adToStatus,
  findAd,
  parseAds,
  parsePool,
  parseSubmitTerse,
  type ClassAd,
} from './parse.js';

export interface HtcondorSchedulerOptions {
  readonly user?: string;
  readonly commandTimeoutMs?: number;
  readonly clusterName?: string;
}

/** A runner that can also write the job script where the schedd and the job can read it. */
export type HtcondorRunner = CommandRunner & Pick<FileTransport, 'writeFileAtomic'>;

const ID_WHAT = 'an HTCondor job id: expected ClusterId.ProcId such as 123.0, or a ClusterId';

export class HtcondorScheduler implements Scheduler {
  readonly kind = 'htcondor' as const;
  private readonly commands: BatchCommands;

  constructor(
    private readonly runner: HtcondorRunner,
    options: HtcondorSchedulerOptions = {},
  ) {
    this.commands = new BatchCommands(runner, {
      scheduler: 'htcondor',
      reader: HTCONDOR_STDERR,
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.clusterName === undefined ? {} : { clusterName: options.clusterName }),
      ...(options.commandTimeoutMs === undefined
        ? {}
        : { commandTimeoutMs: options.commandTimeoutMs }),
    });
  }

  /**
   * HTCondor runs an executable file, not a script on stdin, so the script is written (0700) to
   * the work directory first; the job's own directory on the shared filesystem is the one place
   * both the submit host and the execute node read.
   */
  async submit(request: SubmitRequest, options: OperationOptions = {}): Promise<string> {
    const { signal } = options;
    throwIfAborted(signal);
    const { resources } = request;
    validateResources(resources);
    if (resources.workdir === undefined) {
      throw new InvalidInputError(
        'workdir is needed on HTCondor: the job script is written there for condor_submit to run',
        { hint: 'Give the job a work directory on the shared filesystem.' },
      );
    }
    const path = `${resources.workdir.replace(/\/+$/, '')}/hpcj-job-${randomBytes(6).toString('hex')}.sh`;
    // Both throw InvalidInputError before anything is written.
    const description = renderSubmitDescription(resources, path);
    const script = insertHeader(request.script, [], 'condor_submit');
    await this.runner.writeFileAtomic(path, script, {
      mode: 0o700,
      ...(signal === undefined ? {} : { signal }),
    });
    const result = await this.commands.submit(
      'condor_submit',
      condorSubmitArgv(),
      description,
      resources.name,
      signal,
    );
    const id = parseSubmitTerse(result.stdout);
    if (id === undefined)
      throw this.commands.noIdError('condor_submit', result.stdout, resources.name);
    return id;
  }

  /**
   * condor_q for all ids; those it does not list (completed and removed jobs leave the queue)
   * from one condor_history. Ids neither knows, or that a failed command could not answer for,
   * are `unknown`, never `completed`.
   */
  async status(
    ids: readonly string[],
    options: OperationOptions = {},
  ): Promise<Map<string, JobStatus>> {
    const { signal } = options;
    throwIfAborted(signal);
    const { wanted, result } = splitIds(ids, HTCONDOR_JOB_ID, ID_WHAT);
    if (wanted.length === 0) return result;
    const queue = await this.ads('condor_q', condorQArgv(wanted), signal);
    if (typeof queue === 'string') {
      for (const id of wanted) result.set(id, unknownStatus(id, queue));
      return result;
    }
    const left = wanted.filter((id) => findAd(queue, id) === undefined);
    for (const id of wanted) {
      const ad = findAd(queue, id);
      if (ad !== undefined) result.set(id, adToStatus(ad, id));
    }
    if (left.length === 0) return result;
    const history = await this.ads('condor_history', condorHistoryArgv(left), signal);
    for (const id of left) {
      if (typeof history === 'string') {
        result.set(id, unknownStatus(id, `the job is no longer in the queue and ${history}`));
        continue;
      }
      const ad = findAd(history, id);
      result.set(
        id,
        ad === undefined
          ? unknownStatus(
              id,
              'the job is neither in the queue nor in the schedd history (history rotated away, or never existed)',
            )
          : adToStatus(ad, id),
      );
    }
    return result;
  }

  async cancel(ids: readonly string[], options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const unique = checkIds(ids, HTCONDOR_JOB_ID, ID_WHAT);
    if (unique.length === 0) return;
    const result = await this.commands.runOrThrow(
      'condor_rm',
      condorRmArgv(unique),
      options.signal,
    );
    if (result.code === 0) return;
    const { ignored, errors } = classifyCondorRm(`${result.stderr}\n${result.stdout}`);
    if (errors.length > 0 || ignored.length === 0) {
      throw this.commands.failure('condor_rm', 'could not remove', {
        ...result,
        stderr: errors.join('\n') || result.stderr,
      });
    }
  }

  /** A pool has no queues or account lists; what its machines offer goes in `pool`. */
  async siteInfo(options: OperationOptions = {}): Promise<SiteInfo> {
    const { signal } = options;
    throwIfAborted(signal);
    const user = await this.commands.userName(signal);
    const result = await this.commands.runOrThrow('condor_status', condorStatusArgv(), signal);
    if (result.code !== 0)
      throw this.commands.failure('condor_status', 'could not list machines', result);
    try {
      return { partitions: [], accounts: [], qos: [], user, pool: parsePool(result.stdout) };
    } catch (error) {
      throw new SchedulerError(
        `${(error as Error).message} on ${this.commands.cluster}`,
        'htcondor',
        { cause: error },
      );
    }
  }

  async listJobs(namePrefix: string, options: OperationOptions = {}): Promise<JobStatus[]> {
    const { signal } = options;
    throwIfAborted(signal);
    const result = await this.commands.runOrThrow('condor_q', condorQMineArgv(), signal);
    if (result.code !== 0) throw this.commands.failure('condor_q', 'could not list jobs', result);
    let ads: ClassAd[];
    try {
      ads = parseAds(result.stdout, 'condor_q');
    } catch (error) {
      throw new SchedulerError(
        `${(error as Error).message} on ${this.commands.cluster}`,
        'htcondor',
        { cause: error },
      );
    }
    return ads
      .map((ad) => adToStatus(ad))
      .filter((s) => s.name?.startsWith(namePrefix) === true && !FINAL_STATES.has(s.state));
  }

  /** The ads a query printed, or why there are none (a string). */
  private async ads(
    command: string,
    argv: string[],
    signal: AbortSignal | undefined,
  ): Promise<ClassAd[] | string> {
    const attempt = await this.commands.attempt(command, argv, signal);
    if (!attempt.ran) return attempt.reason;
    const { code, stderr } = attempt.result;
    // condor_q prints "-- Failed to fetch ads" and may still exit 0 with nothing on stdout.
    if (code !== 0 || isHtcondorUnreachable(stderr))
      return this.commands.reasonOf(command, attempt.result);
    try {
      return parseAds(attempt.result.stdout, command);
    } catch (error) {
      if (error instanceof HtcondorParseError)
        return `${error.message} on ${this.commands.cluster}`;
      throw error;
    }
  }
}
