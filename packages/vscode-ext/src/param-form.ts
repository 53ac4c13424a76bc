/**
 * A template's launch form as data: initial values (defaults, then a profile's values), the
 * limits of the chosen partition, parsing what was typed, and validation with messages that say
 * what is allowed. Pure; the quick-pick UI (form-quick-pick.ts) draws it, and the agent checks
 * the values again when the session starts.
 */
import type {
  ParameterDefinition,
  ParameterProblem,
  ParameterSchema,
  ParamValue,
  TemplateForm,
} from '@hpc-jupyter/core';

export type FormValues = Readonly<Record<string, ParamValue>>;

export type Parsed =
  | { readonly ok: true; readonly value: ParamValue | undefined }
  | { readonly ok: false; readonly message: string };

/** Defaults from the form, then the preset's values (a profile's) on top. */
export function initialValues(
  form: TemplateForm,
  preset: Readonly<Record<string, ParamValue>> = {},
): Record<string, ParamValue> {
  const values: Record<string, ParamValue> = {};
  for (const [name, def] of Object.entries(form.schema.properties)) {
    const value = preset[name] ?? def.default;
    if (value !== undefined) values[name] = value;
  }
  return values;
}

/**
 * The form's schema with the bounds of the partition chosen in `values`. The agent's form comes
 * narrowed to the default partition; another partition's limits replace those.
 */
export function effectiveSchema(form: TemplateForm, values: FormValues): ParameterSchema {
  const param = form.partitionParam;
  const chosen = param === undefined ? undefined : values[param];
  const limits = typeof chosen === 'string' ? form.partitionLimits[chosen] : undefined;
  if (limits === undefined) return form.schema;
  const properties: Record<string, ParameterDefinition> = { ...form.schema.properties };
  for (const [name, bounds] of Object.entries(limits)) {
    const def = properties[name];
    if (def === undefined) continue;
    properties[name] = {
      ...def,
      ...(bounds.maximum === undefined ? {} : { maximum: bounds.maximum }),
      ...(bounds.minimum === undefined ? {} : { minimum: bounds.minimum }),
    };
  }
  return { ...form.schema, properties };
}

export function isRequired(schema: ParameterSchema, name: string): boolean {
  return schema.required?.includes(name) ?? false;
}

/** What was typed into an input box, as the parameter's type; empty means "not set". */
export function parseInput(def: ParameterDefinition, text: string, required: boolean): Parsed {
  const trimmed = def.type === 'string' ? text : text.trim();
  if (trimmed === '') {
    return required ? { ok: false, message: `${def.title} is required.` } : ok(undefined);
  }
  let value: ParamValue;
  switch (def.type) {
    case 'integer':
      if (!/^[-+]?\d+$/.test(trimmed)) return fail(`${def.title} must be a whole number.`);
      value = Number(trimmed);
      break;
    case 'number': {
      const n = Number(trimmed);
      if (!Number.isFinite(n)) return fail(`${def.title} must be a number.`);
      value = n;
      break;
    }
    case 'boolean':
      if (/^(true|yes|on|1)$/i.test(trimmed)) value = true;
      else if (/^(false|no|off|0)$/i.test(trimmed)) value = false;
      else return fail(`${def.title} must be yes or no.`);
      break;
    case 'string':
      value = trimmed;
      break;
  }
  const problem = checkValue(def, value);
  return problem === undefined ? ok(value) : fail(problem);
}

/** Why `value` is not allowed for `def`, or undefined when it is. */
export function checkValue(def: ParameterDefinition, value: ParamValue): string | undefined {
  const title = def.title;
  if (def.enum !== undefined && !def.enum.includes(value)) {
    return `${title} must be one of: ${def.enum.map(String).join(', ')}.`;
  }
  if (typeof value === 'number') {
    if (def.type === 'integer' && !Number.isInteger(value))
      return `${title} must be a whole number.`;
    if (def.minimum !== undefined && value < def.minimum)
      return `${title} must be at least ${def.minimum}.`;
    if (def.maximum !== undefined && value > def.maximum)
      return `${title} must be at most ${def.maximum}.`;
  }
  if (typeof value === 'string') {
    if (def.minLength !== undefined && value.length < def.minLength)
      return `${title} must have at least ${def.minLength} characters.`;
    if (def.maxLength !== undefined && value.length > def.maxLength)
      return `${title} must have at most ${def.maxLength} characters.`;
    if (def.pattern !== undefined && !safePattern(def.pattern).test(value)) {
      return `${title} must be ${def.patternErrorMessage ?? `like ${def.pattern}`}.`;
    }
  }
  return undefined;
}

/** Every problem of the values against the schema, required parameters included. */
export function validateValues(schema: ParameterSchema, values: FormValues): ParameterProblem[] {
  const problems: ParameterProblem[] = [];
  for (const [name, def] of Object.entries(schema.properties)) {
    const value = values[name];
    if (value === undefined) {
      if (isRequired(schema, name))
        problems.push({ param: name, message: `${def.title} is required.` });
      continue;
    }
    const message = checkValue(def, value);
    if (message !== undefined) problems.push({ param: name, message });
  }
  return problems;
}

/** A value as the form shows it. */
export function formatValue(def: ParameterDefinition, value: ParamValue | undefined): string {
  if (value === undefined || value === '') return 'not set';
  if (def.type === 'boolean') return value === true ? 'yes' : 'no';
  return String(value);
}

/** The values that differ from the defaults, for a one-line summary ("nodes 2, hours 4"). */
export function summarizeValues(schema: ParameterSchema, values: FormValues): string {
  const parts: string[] = [];
  for (const [name, def] of Object.entries(schema.properties)) {
    const value = values[name];
    if (value === undefined || value === '') continue;
    parts.push(`${def.title.toLowerCase()} ${formatValue(def, value)}`);
  }
  return parts.join(', ');
}

function ok(value: ParamValue | undefined): Parsed {
  return { ok: true, value };
}

function fail(message: string): Parsed {
  return { ok: false, message };
}

/** A template's pattern as a RegExp; one that does not compile matches everything (the agent checks). */
function safePattern(pattern: string): RegExp {
  try {
    return new RegExp(pattern, 'u');
  } catch {
    return /(?:)/;
  }
}
