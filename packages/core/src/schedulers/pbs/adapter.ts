/**
 * The PBS adapter, for PBS Pro/OpenPBS (`flavor: 'pbspro'`, the default) and Torque
 * (`flavor: 'torque'`): submit, batched status, cancel, site info and job discovery through the
 * CommandRunner seam with argv arrays. Command lines are in commands.ts, parsing in parse.ts and
 * site-parse.ts; this file runs commands and decides what their answers mean together.
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
  type PbsFlavor,
  pbsnodesArgv,
  qdelArgv,
  qstatAllArgv,
  qstatJobsArgv,
  qstatQueuesArgv,
  qstatServerArgv,
  qsubArgv,
} from './commands.js';
import { renderPbsScript } from './directives.js';
import { PBS_STDERR, classifyQdelErrors, isServerUnreachable } from './errors.js';
import {
  PBS_JOB_ID,
  PbsParseError,
  findRecord,
  parseQstat,
  parseQsub,
  recordToStatus,
  sequenceOf,
  unknownJobIds,
} from './parse.js';
import {
  parseDefaultQueue,
  parseNodes,
  parseQueueAttrs,
  queuesToPartitions,
} from './site-parse.js';

export interface PbsSchedulerOptions {
  readonly flavor?: PbsFlavor;
  readonly user?: string;
  readonly commandTimeoutMs?: number;
  readonly clusterName?: string;
}

const ID_WHAT = 'a PBS job id: expected digits, optionally [] or [N], then .server';

export class PbsScheduler implements Scheduler {
  readonly kind = 'pbs' as const;
  readonly flavor: PbsFlavor;
  private readonly commands: BatchCommands;

  constructor(runner: CommandRunner, options: PbsSchedulerOptions = {}) {
    this.flavor = options.flavor ?? 'pbspro';
    this.commands = new BatchCommands(runner, {
      scheduler: 'pbs',
      reader: PBS_STDERR,
      ...(options.user === undefined ? {} : { user: options.user }),
      ...(options.clusterName === undefined ? {} : { clusterName: options.clusterName }),
      ...(options.commandTimeoutMs === undefined
        ? {}
        : { commandTimeoutMs: options.commandTimeoutMs }),
    });
  }

  async submit(request: SubmitRequest, options: OperationOptions = {}): Promise<string> {
    throwIfAborted(options.signal);
    const script = renderPbsScript(request.script, request.resources, this.flavor);
    const result = await this.commands.submit(
      'qsub',
      qsubArgv(),
      script,
      request.resources.name,
      options.signal,
    );
    const id = parseQsub(result.stdout);
    if (id === undefined)
      throw this.commands.noIdError('qsub', result.stdout, request.resources.name);
    return id;
  }

  /**
   * One qstat for all ids. qstat prints what it knows on stdout and "Unknown Job Id" for each
   * other id on stderr (exiting non-zero), so stdout is read whatever the exit code. A server
   * that does not answer makes every id `unknown` with the reason; so does an id qstat forgot.
   */
  async status(
    ids: readonly string[],
    options: OperationOptions = {},
  ): Promise<Map<string, JobStatus>> {
    throwIfAborted(options.signal);
    const { wanted, result } = splitIds(ids, PBS_JOB_ID, ID_WHAT);
    if (wanted.length === 0) return result;
    const attempt = await this.commands.attempt(
      'qstat',
      qstatJobsArgv(this.flavor, wanted),
      options.signal,
    );
    if (!attempt.ran) {
      for (const id of wanted) result.set(id, unknownStatus(id, attempt.reason));
      return result;
    }
    const { stdout, stderr, code } = attempt.result;
    const gone = new Set(unknownJobIds(stderr).map(sequenceOf));
    let records;
    try {
      records = parseQstat(this.flavor, stdout);
    } catch (error) {
      if (!(error instanceof PbsParseError)) throw error;
      for (const id of wanted)
        result.set(id, unknownStatus(id, `${error.message} on ${this.commands.cluster}`));
      return result;
    }
    const failed =
      code !== 0 && (isServerUnreachable(stderr) || (records.length === 0 && gone.size === 0));
    for (const id of wanted) {
      const record = findRecord(records, id);
      if (record !== undefined) result.set(id, recordToStatus(record, this.flavor, id));
      else if (failed)
        result.set(id, unknownStatus(id, this.commands.reasonOf('qstat', attempt.result)));
      else if (gone.has(sequenceOf(id))) {
        result.set(
          id,
          unknownStatus(
            id,
            this.flavor === 'pbspro'
              ? 'the PBS server no longer knows this job: it ended longer ago than the server keeps history (job_history_duration), or never existed'
              : 'the Torque server no longer knows this job: it ended longer ago than keep_completed, or never existed',
          ),
        );
      } else result.set(id, unknownStatus(id, 'qstat did not mention this job'));
    }
    return result;
  }

  async cancel(ids: readonly string[], options: OperationOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const unique = checkIds(ids, PBS_JOB_ID, ID_WHAT);
    if (unique.length === 0) return;
    const result = await this.commands.runOrThrow('qdel', qdelArgv(unique), options.signal);
    if (result.code === 0) return;
    const { ignored, errors } = classifyQdelErrors(result.stderr);
    if (errors.length > 0 || ignored.length === 0) {
      throw this.commands.failure('qdel', 'could not cancel', {
        ...result,
        stderr: errors.join('\n') || result.stderr,
      });
    }
  }

  async siteInfo(options: OperationOptions = {}): Promise<SiteInfo> {
    const { signal } = options;
    throwIfAborted(signal);
    const user = await this.commands.userName(signal);
    const [queues, server, nodes] = await Promise.all([
      this.commands.runOrThrow('qstat -Q', qstatQueuesArgv(this.flavor), signal),
      this.commands.attempt('qstat -B', qstatServerArgv(this.flavor), signal),
      this.commands.attempt('pbsnodes', pbsnodesArgv(this.flavor), signal),
    ]);
    if (queues.code !== 0) throw this.commands.failure('qstat -Q', 'could not list queues', queues);
    try {
      // The server and node lists only add detail: without them the queues are still offered.
      const defaultQueue =
        server.ran && server.result.code === 0
          ? parseDefaultQueue(this.flavor, server.result.stdout)
          : undefined;
      const nodeList =
        nodes.ran && nodes.result.code === 0 ? parseNodes(this.flavor, nodes.result.stdout) : [];
      const partitions = queuesToPartitions(
        parseQueueAttrs(this.flavor, queues.stdout, 'Queue'),
        nodeList,
        defaultQueue,
      );
      // PBS keeps no list of accounts a user may charge; the form takes a free-text account.
      return { partitions, accounts: [], qos: [], user };
    } catch (error) {
      throw new SchedulerError(
        `qstat on ${this.commands.cluster} printed site information that could not be read: ${(error as Error).message}`,
        'pbs',
        { cause: error },
      );
    }
  }

  /** This user's live jobs whose name starts with the prefix; throws when qstat fails. */
  async listJobs(namePrefix: string, options: OperationOptions = {}): Promise<JobStatus[]> {
    const { signal } = options;
    throwIfAborted(signal);
    const user = await this.commands.userName(signal);
    const result = await this.commands.runOrThrow('qstat', qstatAllArgv(this.flavor), signal);
    if (result.code !== 0) throw this.commands.failure('qstat', 'could not list jobs', result);
    let records;
    try {
      records = parseQstat(this.flavor, result.stdout);
    } catch (error) {
      throw new SchedulerError(`${(error as Error).message} on ${this.commands.cluster}`, 'pbs', {
        cause: error,
      });
    }
    return records
      .filter((r) => r.owner?.split('@', 1)[0] === user && r.name?.startsWith(namePrefix) === true)
      .map((r) => recordToStatus(r, this.flavor))
      .filter((s) => !FINAL_STATES.has(s.state));
  }
}
