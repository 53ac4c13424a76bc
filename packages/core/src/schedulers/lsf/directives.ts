/**
 * Renders a validated ResourceRequest as `#BSUB` lines. Pure: the tests assert the exact lines.
 * LSF counts slots, so a request of N nodes of C cores is `-n N*C` with `span[ptile=C]`;
 * memory is reserved per host (RESOURCE_RESERVE_PER_TASK=N, the default) in MB.
 */

import {
  checkPlainValue,
  coresPerNode,
  insertHeader,
  unsupportedOption,
} from '../directive-checks.js';
import { validateResources } from '../resources.js';
import type { ResourceRequest } from '../types.js';

/** bsub reads `#BSUB` lines as words with quotes; our paths need none of these characters. */
const PATH_FORBIDDEN = /[\s"'\\#]/;

export function renderLsfDirectives(req: ResourceRequest): string[] {
  validateResources(req);
  if (req.qos !== undefined) {
    throw unsupportedOption(
      'LSF',
      'qos',
      'LSF has no quality of service option (its service classes are set up per site, not per job)',
      'Leave QOS empty and choose a queue instead.',
    );
  }
  for (const [option, value] of [
    ['output', req.output],
    ['workdir', req.workdir],
  ] as const) {
    if (value !== undefined) {
      checkPlainValue(
        'LSF',
        option,
        value,
        PATH_FORBIDDEN,
        'use a path without spaces, quotes, \\ or #',
      );
    }
  }
  const nodes = req.nodes ?? 1;
  const cores = coresPerNode(req.tasksPerNode, req.cpusPerTask);
  const resources = [
    `span[ptile=${String(cores)}]`,
    ...(req.memoryMiB === undefined ? [] : [`rusage[mem=${String(req.memoryMiB)}MB]`]),
  ].join(' ');
  const lines = [
    `#BSUB -J ${req.name}`,
    `#BSUB -n ${String(nodes * cores)}`,
    `#BSUB -R "${resources}"`,
  ];
  if (req.gpusPerNode !== undefined && req.gpusPerNode > 0) {
    lines.push(`#BSUB -gpu "num=${String(req.gpusPerNode)}"`);
  }
  if (req.walltimeMinutes !== undefined) {
    const h = Math.floor(req.walltimeMinutes / 60);
    const m = req.walltimeMinutes % 60;
    lines.push(`#BSUB -W ${String(h)}:${String(m).padStart(2, '0')}`);
  }
  if (req.partition !== undefined) lines.push(`#BSUB -q ${req.partition}`);
  if (req.account !== undefined) lines.push(`#BSUB -P ${req.account}`);
  if (req.mailOnStart !== undefined) lines.push('#BSUB -B', `#BSUB -u ${req.mailOnStart}`);
  if (req.workdir !== undefined) lines.push(`#BSUB -cwd ${req.workdir}`);
  // With -o and no -e, LSF writes stderr to the same file, and mails no job report.
  if (req.output !== undefined) lines.push(`#BSUB -o ${req.output}`);
  return lines;
}

export function renderLsfScript(script: string, req: ResourceRequest): string {
  return insertHeader(script, renderLsfDirectives(req), 'bsub');
}
