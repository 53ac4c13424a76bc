/**
 * Renders a job from a template, validated parameter values and the session's context. Pure.
 *
 * Parameter values never become shell text: the ones a manifest maps onto resources become the
 * ResourceRequest (the scheduler adapter turns it into directives, after its own validation), the
 * rest travel in the env file. The script is the same for every session of a template and
 * prologue: runtime, session start (which sources ./job.env), prologue, body.
 */

import { InvalidInputError } from '../errors.js';
import { validateResources } from '../schedulers/resources.js';
import type { ResourceRequest } from '../schedulers/types.js';
import { paramEnvName, renderEnvFile } from './env-file.js';
import {
  NUMERIC_RESOURCE_FIELDS,
  type ParamValue,
  type ParamValues,
  type RenderContext,
  type RenderedJob,
  type ResourceField,
  type Template,
} from './types.js';
import { validateParams } from './validate-params.js';

const SESSION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const NUMERIC = new Set<ResourceField>(NUMERIC_RESOURCE_FIELDS);

export function renderJob(
  template: Template,
  values: ParamValues,
  context: RenderContext,
): RenderedJob {
  checkContext(context);
  // Values should come from validateParams already; checking again costs nothing and means no
  // caller can render an unchecked value.
  const params = validateParams(template, values);
  const sessionDir = trimSlash(context.sessionDir);

  const resources = buildResources(template, params, {
    name: context.jobName ?? `hpcj-${context.sessionId}`,
    workdir: sessionDir,
    output: `${sessionDir === '/' ? '' : sessionDir}/job.log`,
  });
  validateResources(resources);

  const mapped = new Set(
    Object.values(template.resources).flatMap((s) => ('param' in s ? [s.param] : [])),
  );
  const env = new Map<string, ParamValue>([
    ['HPC_JUPYTER_SCHEDULER', context.scheduler],
    ['HPCJ_SESSION_ID', context.sessionId],
    ['HPCJ_SESSION_DIR', sessionDir],
    ['HPCJ_TEMPLATE', template.name],
    // A composed job's engine: its body returns once ready, the front end's start-up uses it.
    ...(template.compose === undefined ? [] : [['HPCJ_ENGINE', template.compose.engine] as const]),
    ['HPCJ_PYTHON', context.python ?? 'python3'],
    ['HPCJ_NODE_COUNT', resources.nodes ?? 1],
    ['HPCJ_TASKS_PER_NODE', resources.tasksPerNode ?? 1],
  ]);
  for (const [name, value] of Object.entries(params)) {
    if (!mapped.has(name)) env.set(paramEnvName(name), value);
  }

  return {
    script: renderScript(template, context.prologue),
    resources,
    envFile: renderEnvFile(env),
  };
}

/** The script text; it depends on the template and the prologue only. */
export function renderScript(template: Template, prologue: string | undefined): string {
  const section = (title: string, text: string): string =>
    `# ---- ${title} ${'-'.repeat(Math.max(4, 90 - title.length))}\n${ensureNewline(text)}`;
  // Trusted text from the user's or site's own config, kept exactly as written.
  const hasPrologue = prologue !== undefined && prologue.trim() !== '';
  return [
    '#!/bin/bash -l',
    `# hpc-jupyter job from the template "${template.name}". It starts in its session directory and`,
    '# takes its parameters from ./job.env there; the batch directives are right after line 1.',
    'umask 077',
    '',
    section('runtime (templates/runtime/runtime.sh)', template.runtime),
    section('session', 'hpcj_session_start'),
    section('prologue (cluster configuration)', hasPrologue ? prologue : '# (none)'),
    ...(template.compose === undefined
      ? [section(`body (templates/${template.name}/body.sh)`, template.body)]
      : template.compose.bodies.map((b) =>
          section(`body (templates/${b.template}/body.sh, part of ${template.name})`, b.body),
        )),
  ].join('\n');
}

function buildResources(
  template: Template,
  params: ParamValues,
  fixed: Pick<ResourceRequest, 'name' | 'workdir' | 'output'>,
): ResourceRequest {
  const out: Record<string, string | number> = {};
  for (const [field, source] of Object.entries(template.resources) as [
    ResourceField,
    NonNullable<Template['resources'][ResourceField]>,
  ][]) {
    let value: ParamValue | undefined;
    if ('value' in source) {
      value = source.value;
    } else {
      value = params[source.param];
      if (typeof value === 'number' && source.scale !== undefined) {
        value = Math.round(value * source.scale);
      }
    }
    if (value === undefined || value === '') continue;
    if (NUMERIC.has(field)) {
      // Resource counts are whole numbers; a fractional parameter is rounded like a scaled one.
      out[field] = typeof value === 'number' ? Math.round(value) : Number(value);
    } else {
      out[field] = String(value);
    }
  }
  return { ...(out as Partial<ResourceRequest>), ...fixed };
}

function checkContext(context: RenderContext): void {
  if (!SESSION_ID.test(context.sessionId)) {
    throw new InvalidInputError(
      `Session id ${JSON.stringify(context.sessionId)} is not allowed: use 1 to 64 letters, ` +
        'digits, _ and -, starting with a letter or digit (it becomes part of a URL and a job name).',
    );
  }
  const dir = context.sessionDir;
  if (!dir.startsWith('/') || /\p{Cc}/u.test(dir)) {
    throw new InvalidInputError(
      `Session directory ${JSON.stringify(dir)} must be an absolute path on the cluster ` +
        'without control characters.',
    );
  }
  const python = context.python;
  if (python !== undefined && (python.trim() === '' || /\p{Cc}/u.test(python))) {
    throw new InvalidInputError(
      `The cluster's python setting ${JSON.stringify(python)} must be a command or path ` +
        'without control characters, such as python3 or /opt/venv/bin/python.',
    );
  }
}

function trimSlash(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}
