/**
 * Scheduler-neutral validation of a ResourceRequest. Every adapter calls `validateResources`
 * before it renders directives or runs anything, so a value that could break out of a directive
 * line (or a shell, if someone ever pasted one into one) never reaches the cluster.
 */

import { InvalidInputError } from '../errors.js';
import type { ResourceRequest } from './types.js';

export const MAX_JOB_NAME_LENGTH = 200;
export const MAX_PATH_LENGTH = 4096;
const MAX_SITE_NAME_LENGTH = 128;

/** Inclusive bounds for the numeric fields; generous, but they catch unit slips and garbage. */
export const RESOURCE_LIMITS = {
  nodes: { min: 1, max: 100_000 },
  tasksPerNode: { min: 1, max: 100_000 },
  cpusPerTask: { min: 1, max: 100_000 },
  // 0 means "no GPUs", so a form field defaulting to 0 needs no special case.
  gpusPerNode: { min: 0, max: 1024 },
  // 1 PiB per node.
  memoryMiB: { min: 1, max: 1024 ** 3 },
  // Ten years: above anything a site allows, below Slurm's own overflow.
  walltimeMinutes: { min: 1, max: 10 * 366 * 24 * 60 },
} as const;

/** Characters a shell, a directive parser or a submit filter would give meaning to. */
const NAME_FORBIDDEN = new Set(';&|$`\'"<>(){}*?[]!~#\\');
const SITE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.+-]*$/;
const SITE_NAME_CHAR = /[A-Za-z0-9_.+-]/;
const EMAIL =
  /^[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

/** Throws InvalidInputError naming the first field that is wrong, what is wrong and what is allowed. */
export function validateResources(req: ResourceRequest): void {
  validateJobName(req.name);
  for (const field of ['partition', 'account', 'qos'] as const) {
    const value = req[field];
    if (value !== undefined) validateSiteName(field, value);
  }
  for (const field of Object.keys(RESOURCE_LIMITS) as (keyof typeof RESOURCE_LIMITS)[]) {
    const value = req[field];
    if (value !== undefined) validateInteger(field, value, RESOURCE_LIMITS[field]);
  }
  if (req.mailOnStart !== undefined) validateEmail(req.mailOnStart);
  if (req.workdir !== undefined) validatePath('workdir', req.workdir);
  if (req.output !== undefined) validatePath('output', req.output);
}

export function validateJobName(name: unknown): void {
  if (typeof name !== 'string' || name === '') {
    throw new InvalidInputError('job name is missing: every job needs a name', {
      hint: 'Give the job a name such as "hpcj-jupyter-1".',
    });
  }
  // Code points, as a person counts them, not UTF-16 units.
  const length = Array.from(name).length;
  if (length > MAX_JOB_NAME_LENGTH) {
    throw invalid(
      'name',
      name,
      `is ${length} characters long`,
      `a job name may be at most ${MAX_JOB_NAME_LENGTH} characters`,
    );
  }
  if (!/^[\p{L}\p{N}]/u.test(name)) {
    throw invalid(
      'name',
      name,
      'does not start with a letter or digit',
      'a job name must start with a letter or digit',
    );
  }
  for (const ch of name) {
    if (NAME_FORBIDDEN.has(ch) || /[\s\p{C}]/u.test(ch)) {
      throw invalid(
        'name',
        name,
        `contains ${describeChar(ch)}`,
        'a job name may contain letters, digits and punctuation other than ' +
          '; & | $ ` \' " < > ( ) { } * ? [ ] ! ~ # \\, and no spaces or control characters',
      );
    }
  }
}

function validateSiteName(field: 'partition' | 'account' | 'qos', value: unknown): void {
  const label = field === 'qos' ? 'QOS' : field;
  const allowed = `a ${label} name may only contain letters, digits and _ . + -, and must start with a letter or digit`;
  if (typeof value !== 'string' || value === '') {
    throw new InvalidInputError(`${label} is empty: ${allowed}`);
  }
  if (value.length > MAX_SITE_NAME_LENGTH) {
    throw invalid(
      label,
      value,
      `is ${value.length} characters long`,
      `${allowed}, at most ${MAX_SITE_NAME_LENGTH} of them`,
    );
  }
  if (SITE_NAME.test(value)) return;
  const bad = Array.from(value).find((ch) => !SITE_NAME_CHAR.test(ch));
  const problem =
    bad === undefined
      ? `starts with ${describeChar(value.charAt(0))}`
      : `contains ${describeChar(bad)}`;
  throw invalid(label, value, problem, allowed);
}

function validateInteger(
  field: string,
  value: unknown,
  bounds: { min: number; max: number },
): void {
  if (
    typeof value !== 'number' ||
    !Number.isInteger(value) ||
    value < bounds.min ||
    value > bounds.max
  ) {
    const shown = typeof value === 'number' ? String(value) : JSON.stringify(value);
    throw new InvalidInputError(
      `${field} ${shown} is not allowed: ${field} must be a whole number from ${bounds.min} to ${bounds.max}`,
    );
  }
}

function validateEmail(value: unknown): void {
  if (typeof value !== 'string' || value.length > 254 || !EMAIL.test(value)) {
    throw new InvalidInputError(
      `mailOnStart ${JSON.stringify(value)} is not a plausible e-mail address: ` +
        'use the form name@example.org (letters, digits and . _ % + - before the @)',
    );
  }
}

function validatePath(field: 'workdir' | 'output', value: unknown): void {
  const allowed = `${field} must be an absolute path on the cluster (starting with /) without control characters`;
  if (typeof value !== 'string' || value === '') {
    throw new InvalidInputError(`${field} is empty: ${allowed}`);
  }
  if (!value.startsWith('/')) {
    throw invalid(field, value, 'is not absolute', allowed);
  }
  if (value.length > MAX_PATH_LENGTH) {
    throw invalid(
      field,
      value,
      `is ${value.length} characters long`,
      `${allowed}, at most ${MAX_PATH_LENGTH} characters`,
    );
  }
  // Newlines and NUL would end or cut a directive line; other control characters have no
  // business in a path we generate and are refused with them.
  const bad = Array.from(value).find((ch) => /\p{Cc}/u.test(ch));
  if (bad !== undefined) throw invalid(field, value, `contains ${describeChar(bad)}`, allowed);
}

function invalid(
  field: string,
  value: string,
  problem: string,
  allowed: string,
): InvalidInputError {
  return new InvalidInputError(`${field} ${JSON.stringify(value)} ${problem}: ${allowed}`);
}

/** "';'", "a newline", "a space", "a control character (U+0007)". */
export function describeChar(ch: string): string {
  const named: Record<string, string> = {
    '\n': 'a newline',
    '\r': 'a carriage return',
    '\t': 'a tab',
    ' ': 'a space',
    '\0': 'a NUL byte',
  };
  const name = named[ch];
  if (name !== undefined) return name;
  const code = ch.codePointAt(0) ?? 0;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (/\p{C}/u.test(ch)) return `a control or format character (${hex})`;
  if (/\s/u.test(ch)) return `a space character (${hex})`;
  return `'${ch}'`;
}
