/**
 * Turns ajv's validation errors into one plain sentence per problem, worded for the person editing
 * the YAML: which key, what was expected, what was found, and a did-you-mean for typos. ajv's
 * own messages ("must NOT have additional properties") name neither the key nor the fix.
 */

import type { ErrorObject } from 'ajv';
import { keyPathOf, pointerSegments } from './yaml-lines.js';

export interface SchemaProblem {
  /** Key path of the offending key or value, for the line lookup and `ConfigError.keyPath`. */
  readonly segments: readonly string[];
  readonly text: string;
  readonly hint?: string;
}

/**
 * One problem per offending key or value, in ajv's order. A value that breaks several rules (a
 * port that is neither an integer nor in range) is reported by its first rule only, and the
 * `propertyNames` wrapper ajv adds around a bad name is dropped in favour of the inner error.
 */
export function describeSchemaErrors(errors: readonly ErrorObject[]): SchemaProblem[] {
  const seen = new Set<string>();
  const problems: SchemaProblem[] = [];
  for (const error of errors) {
    if (error.keyword === 'propertyNames') continue;
    const key = dedupeKey(error);
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(describe(error));
  }
  return problems;
}

function dedupeKey(error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  if (error.propertyName !== undefined) return `${error.instancePath}#name:${error.propertyName}`;
  if (error.keyword === 'additionalProperties') {
    return `${error.instancePath}#extra:${String(params['additionalProperty'])}`;
  }
  if (error.keyword === 'required') {
    return `${error.instancePath}#missing:${String(params['missingProperty'])}`;
  }
  return `${error.instancePath}#value`;
}

function describe(error: ErrorObject): SchemaProblem {
  const segments = pointerSegments(error.instancePath);
  const where = segments.length === 0 ? 'the top level' : keyPathOf(segments);
  const params = error.params as Record<string, unknown>;
  const parent = (error.parentSchema ?? {}) as Record<string, unknown>;

  if (error.propertyName !== undefined) {
    const expected = expectation(parent, error);
    return {
      segments: [...segments, error.propertyName],
      text: `'${error.propertyName}' in ${where} is not a valid name: expected ${expected}`,
    };
  }
  switch (error.keyword) {
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      const known = Object.keys(parent['properties'] ?? {});
      const guess = closest(extra, known);
      const suffix = guess === undefined ? '' : `; did you mean '${guess}'?`;
      return {
        segments: [...segments, extra],
        text: `unknown key '${extra}' in ${where}${suffix}`,
        hint: known.length > 0 ? `Known keys there: ${known.join(', ')}.` : undefined,
      } satisfies SchemaProblem;
    }
    case 'required':
      return { segments, text: `${where} is missing '${String(params['missingProperty'])}'` };
    case 'enum': {
      const allowed = (params['allowedValues'] as unknown[]).map(String);
      const got = typeof error.data === 'string' ? closest(error.data, allowed) : undefined;
      return {
        segments,
        text: `${where} must be one of ${allowed.join(', ')} (got ${show(error.data)})`,
        hint: got === undefined ? undefined : `Did you mean '${got}'?`,
      } satisfies SchemaProblem;
    }
    default:
      return {
        segments,
        text: `${where} must be ${expectation(parent, error)} (got ${show(error.data)})`,
      };
  }
}

/** What a value should have been, from the failing keyword. */
function expectation(parent: Record<string, unknown>, error: ErrorObject): string {
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case 'type':
      return typeName(params['type']);
    case 'pattern': {
      const custom = parent['patternErrorMessage'];
      return typeof custom === 'string' ? custom : `text matching ${String(params['pattern'])}`;
    }
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return `${String(params['comparison'])} ${String(params['limit'])}`;
    case 'minLength':
      return params['limit'] === 1
        ? 'non-empty text'
        : `at least ${String(params['limit'])} characters`;
    case 'maxLength':
      return `at most ${String(params['limit'])} characters`;
    default:
      return error.message?.replace(/^must (be )?/, '') ?? error.keyword;
  }
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  object: 'a mapping of keys to values',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  null: 'empty',
};

function typeName(type: unknown): string {
  const names = (Array.isArray(type) ? type : [type]).map(
    (t) => TYPE_NAMES[String(t)] ?? String(t),
  );
  if (names.length <= 1) return names[0] ?? 'something else';
  return `${names.slice(0, -1).join(', ')} or ${names.at(-1) ?? ''}`;
}

/** A found value, short and on one line (JSON quoting shows newlines and tabs as \n, \t). */
export function show(value: unknown): string {
  if (value === null || value === undefined) return 'an empty value';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}..."` : text;
}

/**
 * The candidate closest to `word` when it is close enough to be a typo: at most one edit per
 * three characters (at least one), comparing case-insensitively so `identityfile` finds
 * `identityFile`.
 */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  const limit = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions, adjacent swaps. */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row.push(i === 0 ? j : 0);
    rows.push(row);
  }
  const at = (i: number, j: number): number => rows[i]?.[j] ?? Infinity;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, at(i - 2, j - 2) + 1);
      }
      (rows[i] as number[])[j] = d;
    }
  }
  return at(a.length, b.length);
}
