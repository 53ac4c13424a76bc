/**
 * Renders a validated ResourceRequest as `#PBS` lines for PBS Pro/OpenPBS (`select=` chunks) or
 * Torque (`nodes=N:ppn=C`). Pure: the tests assert the exact lines. Options a flavour cannot
 * express are refused, naming the option, rather than silently dropped.
 */

import { InvalidInputError } from '../../errors.js';
import { shellQuote } from '../batch-commands.js';
import {
  checkPlainValue,
  coresPerNode,
  formatHms,
  insertHeader,
  unsupportedOption,
} from '../directive-checks.js';
import { validateResources } from '../resources.js';
import type { ResourceRequest } from '../types.js';
import type { PbsFlavor } from './commands.js';

/**
 * qsub reads a directive line as words: whitespace splits a value, quotes and `\` are taken by
 * its own lexer, `#` starts a comment, and in -o a `:` separates a host from the path. Our paths
 * are generated, so refusing these costs nothing and keeps every line readable one way only.
 */
const PATH_FORBIDDEN = /[\s"'\\#:,]/;

export function renderPbsDirectives(req: ResourceRequest, flavor: PbsFlavor): string[] {
  validateResources(req);
  const name = flavor === 'pbspro' ? 'PBS Pro' : 'Torque';
  for (const [option, value] of [
    ['output', req.output],
    ['workdir', req.workdir],
  ] as const) {
    if (value !== undefined) {
      checkPlainValue(
        name,
        option,
        value,
        PATH_FORBIDDEN,
        'use a path without spaces, quotes, \\, #, : or ,',
      );
    }
  }
  const nodes = req.nodes ?? 1;
  const cores = coresPerNode(req.tasksPerNode, req.cpusPerTask);
  const gpus = req.gpusPerNode ?? 0;
  const lines: string[] = [`#PBS -N ${req.name}`];
  if (flavor === 'pbspro') {
    if (req.qos !== undefined) {
      throw unsupportedOption(
        name,
        'qos',
        'PBS Pro has no quality of service',
        'Leave QOS empty and choose a queue instead.',
      );
    }
    // One chunk per node (place=scatter), each with the node's cores, MPI ranks, memory and GPUs.
    const chunk = [
      String(nodes),
      `ncpus=${String(cores)}`,
      `mpiprocs=${String(req.tasksPerNode ?? 1)}`,
      ...(req.memoryMiB === undefined ? [] : [`mem=${String(req.memoryMiB)}mb`]),
      ...(gpus > 0 ? [`ngpus=${String(gpus)}`] : []),
    ].join(':');
    lines.push(`#PBS -l select=${chunk}`, '#PBS -l place=scatter');
  } else {
    lines.push(
      `#PBS -l nodes=${String(nodes)}:ppn=${String(cores)}${gpus > 0 ? `:gpus=${String(gpus)}` : ''}`,
    );
    // Torque's mem is for the whole job, so the per-node figure is multiplied out.
    if (req.memoryMiB !== undefined) lines.push(`#PBS -l mem=${String(req.memoryMiB * nodes)}mb`);
  }
  if (req.walltimeMinutes !== undefined) {
    lines.push(`#PBS -l walltime=${formatHms(req.walltimeMinutes)}`);
  }
  if (req.partition !== undefined) lines.push(`#PBS -q ${req.partition}`);
  if (req.account !== undefined) lines.push(`#PBS -A ${req.account}`);
  // Moab, which schedules most Torque sites, reads a QOS from the resource list.
  if (req.qos !== undefined) lines.push(`#PBS -l qos=${req.qos}`);
  if (req.mailOnStart !== undefined) lines.push('#PBS -m b', `#PBS -M ${req.mailOnStart}`);
  if (req.output !== undefined) {
    lines.push(`#PBS -o ${req.output}`, '#PBS -j oe');
    // PBS Pro spools output on the node and copies it at the end unless told to write directly.
    if (flavor === 'pbspro') lines.push('#PBS -k oed');
  }
  if (req.workdir !== undefined && flavor === 'torque') lines.push(`#PBS -d ${req.workdir}`);
  return lines;
}

/**
 * The script with its `#PBS` header. PBS Pro has no working-directory option (jobs start in the
 * home directory), so the header ends with a `cd` there; directives after it would be ignored,
 * which is why it comes last.
 */
export function renderPbsScript(script: string, req: ResourceRequest, flavor: PbsFlavor): string {
  const header = renderPbsDirectives(req, flavor);
  if (req.workdir !== undefined && flavor === 'pbspro') {
    header.push(
      `cd ${shellQuote(req.workdir)} || { echo 'cannot enter the work directory' >&2; exit 1; }`,
    );
  }
  if (header.some((l) => l.includes('\n'))) {
    throw new InvalidInputError('a directive value contains a newline');
  }
  return insertHeader(script, header, 'qsub');
}
