/**
 * Renders a validated ResourceRequest as an HTCondor submit description. Pure: the tests assert
 * the exact lines. HTCondor has no queues, QOS or mail on start, so those are refused by name;
 * a walltime becomes our MaxRuntime attribute with a periodic_remove that enforces it, since
 * vanilla jobs have no run limit of their own.
 */

import { InvalidInputError } from '../../errors.js';
import { checkPlainValue, coresPerNode, unsupportedOption } from '../directive-checks.js';
import { validateResources } from '../resources.js';
import type { ResourceRequest } from '../types.js';

/** `$(...)` expands submit macros, and a value runs to the end of its line. */
const PATH_FORBIDDEN = /[\s"'$\\]/;

/** The walltime rule; RemoveReason names PeriodicRemove when it fires, which says timed-out. */
export const WALLTIME_RULE = '(JobStatus == 2) && (time() - JobCurrentStartDate > MaxRuntime)';

/**
 * The submit description for `executable` (the job script, already on the shared filesystem).
 * More than one node is one parallel-universe job over `machine_count` machines, which needs
 * the site's dedicated scheduler; engines that spread as one job per node submit several.
 */
export function renderSubmitDescription(req: ResourceRequest, executable: string): string {
  validateResources(req);
  const refuse = (option: string, why: string, hint: string): never => {
    throw unsupportedOption('HTCondor', option, why, hint);
  };
  if (req.partition !== undefined) {
    refuse(
      'partition',
      'an HTCondor pool has no queues or partitions',
      'Leave the queue empty; requirements choose machines in HTCondor.',
    );
  }
  if (req.qos !== undefined)
    refuse('qos', 'HTCondor has no quality of service', 'Leave QOS empty.');
  if (req.mailOnStart !== undefined) {
    refuse(
      'mailOnStart',
      'HTCondor mails only when a job ends or fails (notification), never when it starts',
      'Leave mail on start empty.',
    );
  }
  for (const [option, value] of [
    ['output', req.output],
    ['workdir', req.workdir],
    ['executable', executable],
  ] as const) {
    if (value !== undefined) {
      checkPlainValue(
        'HTCondor',
        option,
        value,
        PATH_FORBIDDEN,
        'use a path without spaces, quotes, $ or \\',
      );
    }
  }
  if (!executable.startsWith('/'))
    throw new InvalidInputError('executable must be an absolute path');
  const nodes = req.nodes ?? 1;
  const lines = [
    `universe = ${nodes > 1 ? 'parallel' : 'vanilla'}`,
    `executable = ${executable}`,
    // JobBatchName is how our jobs are found again; validateResources kept it to one safe word.
    `batch_name = ${req.name}`,
    ...(nodes > 1 ? [`machine_count = ${String(nodes)}`] : []),
    `request_cpus = ${String(coresPerNode(req.tasksPerNode, req.cpusPerTask))}`,
    ...(req.memoryMiB === undefined ? [] : [`request_memory = ${String(req.memoryMiB)}MB`]),
    ...(req.gpusPerNode !== undefined && req.gpusPerNode > 0
      ? [`request_gpus = ${String(req.gpusPerNode)}`]
      : []),
    ...(req.walltimeMinutes === undefined
      ? []
      : [
          `+MaxRuntime = ${String(req.walltimeMinutes * 60)}`,
          `periodic_remove = ${WALLTIME_RULE}`,
        ]),
    ...(req.account === undefined ? [] : [`accounting_group = ${req.account}`]),
    ...(req.workdir === undefined ? [] : [`initialdir = ${req.workdir}`]),
    // One log for both streams, written in place on the shared filesystem (no file transfer).
    ...(req.output === undefined ? [] : [`output = ${req.output}`, `error = ${req.output}`]),
    'should_transfer_files = NO',
    'notification = Never',
    'queue 1',
  ];
  return `${lines.join('\n')}\n`;
}
