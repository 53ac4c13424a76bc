/**
 * One parameter value against its definition: coercion of the strings a CLI or a form sends
 * ("4" for an integer), then every static rule (enum, bounds, pattern, length). Pure; shared by
 * `validateParams` and the manifest checks (a default must pass its own rules).
 */

import type { ParamValue, ParameterDefinition } from './types.js';

export type Checked =
  | { readonly ok: true; readonly value: ParamValue }
  | { readonly ok: false; readonly message: string };

const INTEGER = /^[+-]?\d+$/;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TRUE_WORDS = new Set(['true', 'yes', 'on', '1']);
const FALSE_WORDS = new Set(['false', 'no', 'off', '0']);

/** True for what counts as "not given": absent, null, or an empty or blank string. */
export function isBlank(raw: unknown): boolean {
  return raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '');
}

/** Coerces and checks one value; the message starts with the parameter's name. */
export function checkParam(name: string, def: ParameterDefinition, raw: unknown): Checked {
  const coerced = coerce(name, def, raw);
  if (!coerced.ok) return coerced;
  const problem = ruleProblem(name, def, coerced.value);
  return problem === undefined ? coerced : { ok: false, message: problem };
}

function coerce(name: string, def: ParameterDefinition, raw: unknown): Checked {
  const fail = (what: string): Checked => ({
    ok: false,
    message: `${name} must be ${what}, got ${show(raw)}`,
  });
  switch (def.type) {
    case 'integer': {
      const n = typeof raw === 'string' && INTEGER.test(raw.trim()) ? Number(raw) : raw;
      return typeof n === 'number' && Number.isSafeInteger(n)
        ? { ok: true, value: n }
        : fail('a whole number');
    }
    case 'number': {
      const n = typeof raw === 'string' && NUMBER.test(raw.trim()) ? Number(raw) : raw;
      return typeof n === 'number' && Number.isFinite(n)
        ? { ok: true, value: n }
        : fail('a number');
    }
    case 'boolean': {
      if (typeof raw === 'boolean') return { ok: true, value: raw };
      const word = typeof raw === 'string' ? raw.trim().toLowerCase() : undefined;
      if (word !== undefined && TRUE_WORDS.has(word)) return { ok: true, value: true };
      if (word !== undefined && FALSE_WORDS.has(word)) return { ok: true, value: false };
      return fail('true or false');
    }
    case 'string':
      if (typeof raw === 'string') return { ok: true, value: raw };
      // A form or YAML file may send 7 for a field that is text.
      if (typeof raw === 'number' && Number.isFinite(raw)) return { ok: true, value: String(raw) };
      return fail('text');
  }
}

function ruleProblem(
  name: string,
  def: ParameterDefinition,
  value: ParamValue,
): string | undefined {
  if (def.enum !== undefined && !def.enum.includes(value)) {
    return enumProblem(name, def, value);
  }
  if (typeof value === 'number') {
    if (def.minimum !== undefined && value < def.minimum) {
      return `${name} must be at least ${formatNumber(def.minimum)}, got ${formatNumber(value)}`;
    }
    if (def.maximum !== undefined && value > def.maximum) {
      return `${name} must be at most ${formatNumber(def.maximum)}, got ${formatNumber(value)}`;
    }
  }
  if (typeof value === 'string') {
    // No shell and no exec() can carry a NUL; everything else is quoted where it goes.
    if (value.includes('\0')) return `${name} must not contain a NUL character`;
    // Counted in code points, as JSON schema does: a surrogate pair is one character.
    const length = value.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, '_').length;
    if (def.minLength !== undefined && length < def.minLength) {
      return `${name} must be at least ${def.minLength} characters long, got ${length}`;
    }
    if (def.maxLength !== undefined && length > def.maxLength) {
      return `${name} must be at most ${def.maxLength} characters long, got ${length}`;
    }
    if (def.pattern !== undefined && !new RegExp(def.pattern, 'u').test(value)) {
      const what = def.patternErrorMessage ?? `text matching ${def.pattern}`;
      return `${name} must be ${what}, got ${show(value)}`;
    }
  }
  return undefined;
}

/** Enum messages say whose list it is when the choices came from the cluster. */
function enumProblem(name: string, def: ParameterDefinition, value: ParamValue): string {
  const choices = (def.enum ?? []).map(String).join(', ');
  switch (def['x-options']) {
    case 'partitions':
      return `${name} ${show(value)} is not a partition you may use here; choose one of: ${choices}`;
    case 'accounts':
      return `${name} ${show(value)} is not an account you may charge; yours: ${choices}`;
    case 'qos':
      return `${name} ${show(value)} is not a QOS you may use; yours: ${choices}`;
    case undefined:
      return `${name} must be one of: ${choices}; got ${show(value)}`;
  }
}

/** A value for a message: strings in single quotes with control characters escaped, shortened. */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    const escaped = JSON.stringify(value).slice(1, -1).replaceAll('\\"', '"');
    return `'${escaped.length > 60 ? `${escaped.slice(0, 57)}...` : escaped}'`;
  }
  if (typeof value === 'number') return formatNumber(value);
  if (value === null || value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'boolean') return String(value);
  return 'a mapping';
}

/** Numbers as people write them: at most two decimals (1.5, 0.25), no float noise. */
export function formatNumber(n: number): string {
  return String(Math.round(n * 100) / 100);
}
