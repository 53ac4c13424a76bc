/**
 * Turns a schema-valid manifest into a template's parameters and resource mapping: resolves
 * `$ref`s to the shared definitions (keys beside a `$ref` replace the shared ones) and checks what
 * a JSON schema cannot (a default passes its own rules, a mapped parameter exists and has the
 * resource's type). Pure; problems carry key paths for the loader to turn into file:line errors.
 */

import { closest, describeSchemaErrors, type SchemaProblem } from '../config/messages.js';
import { schemaErrors } from './manifest-schema.js';
import { checkParam } from './param-values.js';
import {
  NUMERIC_RESOURCE_FIELDS,
  type ParameterDefinition,
  type ParameterSchema,
  type ResourceField,
  type ResourceMapping,
  type ResourceSource,
} from './types.js';

const PARAM_NAME = /^[a-z][A-Za-z0-9]*$/;
const NUMERIC = new Set<string>(NUMERIC_RESOURCE_FIELDS);

export interface RawManifest {
  readonly parameters: {
    readonly properties: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
    readonly required?: readonly string[];
  };
  readonly resources?: Readonly<Record<string, unknown>>;
}

export interface ResolvedParts {
  readonly parameters: ParameterSchema;
  readonly resources: ResourceMapping;
}

/**
 * @param common the shared definitions by name
 * @param refersToCommon whether the file part of a `$ref` names the shared definitions file
 */
export function resolveManifest(
  raw: RawManifest,
  common: Readonly<Record<string, ParameterDefinition>>,
  refersToCommon: (file: string) => boolean,
): ResolvedParts | SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const properties: Record<string, ParameterDefinition> = {};
  for (const [name, written] of Object.entries(raw.parameters.properties)) {
    const at = ['parameters', 'properties', name];
    if (!PARAM_NAME.test(name)) {
      problems.push({
        segments: at,
        text: `parameter name '${name}' is not allowed: use camelCase letters and digits starting with a lower-case letter (it becomes HPCJ_PARAM_... in the job)`,
      });
      continue;
    }
    const def = resolveRef(written, common, refersToCommon, at, problems);
    if (def === undefined) continue;
    const errors = schemaErrors('definition', def);
    if (errors.length > 0) {
      for (const p of describeSchemaErrors(errors)) {
        problems.push({ ...p, segments: [...at, ...p.segments] });
      }
      continue;
    }
    const typed = def as unknown as ParameterDefinition;
    const before = problems.length;
    problems.push(...definitionProblems(typed, at));
    if (problems.length === before) properties[name] = typed;
  }

  for (const [i, name] of (raw.parameters.required ?? []).entries()) {
    if (!Object.hasOwn(raw.parameters.properties, name)) {
      problems.push({
        segments: ['parameters', 'required', String(i)],
        text: `required parameter '${name}' is not defined in parameters.properties`,
      });
    }
  }

  const resources: Partial<Record<ResourceField, ResourceSource>> = {};
  for (const [field, written] of Object.entries(raw.resources ?? {})) {
    const source = resourceSource(field as ResourceField, written, raw, properties);
    if (typeof source === 'string') {
      problems.push({ segments: ['resources', field], text: `resources.${field}: ${source}` });
    } else if (source !== undefined) {
      resources[field as ResourceField] = source;
    }
  }

  if (problems.length > 0) return problems;
  return {
    parameters: {
      type: 'object',
      properties,
      ...(raw.parameters.required === undefined ? {} : { required: raw.parameters.required }),
      additionalProperties: false,
    },
    resources,
  };
}

function resolveRef(
  written: Readonly<Record<string, unknown>>,
  common: Readonly<Record<string, ParameterDefinition>>,
  refersToCommon: (file: string) => boolean,
  at: readonly string[],
  problems: SchemaProblem[],
): Record<string, unknown> | undefined {
  const { $ref: ref, ...overrides } = written;
  if (typeof ref !== 'string') return overrides;
  const [file = '', shared = ''] = ref.split('#/');
  if (!refersToCommon(file)) {
    problems.push({
      segments: [...at, '$ref'],
      text: `$ref '${ref}' must point into ../common/parameters.yaml, the shared definitions`,
    });
    return undefined;
  }
  const base = Object.hasOwn(common, shared) ? common[shared] : undefined;
  if (base === undefined) {
    const guess = closest(shared, Object.keys(common));
    problems.push({
      segments: [...at, '$ref'],
      text: `$ref '${ref}': there is no shared parameter '${shared}'${guess === undefined ? '' : `; did you mean '${guess}'?`}`,
      hint: `Shared parameters: ${Object.keys(common).join(', ')}.`,
    });
    return undefined;
  }
  return { ...base, ...overrides };
}

/** What a JSON schema cannot check about one resolved definition. */
export function definitionProblems(
  def: ParameterDefinition,
  at: readonly string[],
): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const wrongFor = (key: string, kind: string): void => {
    problems.push({ segments: [...at, key], text: `${key} applies to ${kind} parameters only` });
  };
  const numeric = def.type === 'integer' || def.type === 'number';
  if (!numeric) {
    if (def.minimum !== undefined) wrongFor('minimum', 'integer and number');
    if (def.maximum !== undefined) wrongFor('maximum', 'integer and number');
  }
  if (def.type !== 'string') {
    for (const key of ['pattern', 'minLength', 'maxLength', 'x-options'] as const) {
      if (def[key] !== undefined) wrongFor(key, 'string');
    }
  }
  if (def.minimum !== undefined && def.maximum !== undefined && def.minimum > def.maximum) {
    problems.push({ segments: [...at, 'minimum'], text: 'minimum is above maximum' });
  }
  if (def.pattern !== undefined) {
    try {
      new RegExp(def.pattern, 'u');
    } catch (error) {
      problems.push({
        segments: [...at, 'pattern'],
        text: `pattern is not a valid regular expression: ${(error as Error).message}`,
      });
      return problems;
    }
  }
  if (problems.length > 0) return problems;
  for (const [i, value] of (def.enum ?? []).entries()) {
    const checked = checkParam('value', { ...def, enum: undefined }, value);
    if (!checked.ok || checked.value !== value) {
      problems.push({
        segments: [...at, 'enum', String(i)],
        text: `enum value ${JSON.stringify(value)} does not fit the parameter: ${checked.ok ? `it must be ${article(def.type)}` : checked.message}`,
      });
    }
  }
  if (def.default !== undefined) {
    const checked = checkParam('default', def, def.default);
    if (!checked.ok || checked.value !== def.default) {
      problems.push({
        segments: [...at, 'default'],
        text: checked.ok ? `default must be ${article(def.type)}` : checked.message,
      });
    }
  }
  return problems;
}

/** The source of one resource, or what is wrong with it; undefined when that is reported already. */
function resourceSource(
  field: ResourceField,
  written: unknown,
  raw: RawManifest,
  properties: Readonly<Record<string, ParameterDefinition>>,
): ResourceSource | string | undefined {
  const numeric = NUMERIC.has(field);
  let source: Record<string, unknown>;
  if (typeof written === 'string') source = { param: written };
  else if (typeof written === 'number') source = { value: written };
  else source = written as Record<string, unknown>;

  if ('value' in source) {
    if ('param' in source || 'scale' in source) {
      return 'give either a parameter (param, scale) or a fixed value, not both';
    }
    const value = source['value'];
    if (numeric && !(typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)) {
      return `a fixed ${field} must be a whole number, got ${JSON.stringify(value)}`;
    }
    if (!numeric && typeof value !== 'string') {
      return `a fixed ${field} must be text, got ${JSON.stringify(value)}`;
    }
    return { value: value as number | string };
  }
  const param = source['param'];
  const scale = source['scale'] as number | undefined;
  if (typeof param !== 'string') return 'name the parameter it comes from (param: NAME)';
  const def = properties[param];
  if (def === undefined) {
    // A parameter that failed its own checks is already reported.
    if (Object.hasOwn(raw.parameters.properties, param)) return undefined;
    const guess = closest(param, Object.keys(properties));
    return `there is no parameter '${param}'${guess === undefined ? '' : `; did you mean '${guess}'?`}`;
  }
  if (numeric && def.type !== 'integer' && def.type !== 'number') {
    return `parameter '${param}' is ${article(def.type)}, but ${field} needs a number`;
  }
  if (!numeric && def.type !== 'string') {
    return `parameter '${param}' is ${article(def.type)}, but ${field} needs text`;
  }
  if (!numeric && scale !== undefined) return 'scale applies to numeric resources only';
  return scale === undefined ? { param } : { param, scale };
}

function article(type: string): string {
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}
