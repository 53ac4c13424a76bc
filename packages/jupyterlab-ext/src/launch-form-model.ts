/**
 * A launch form as data: the fields of a template's form (with the site's choices), the raw text
 * the user typed, and validation that applies the schema and the chosen partition's limits the
 * way the agent will, so mistakes show inline before anything is submitted. Pure.
 */
import type { ParameterDefinition, ParamValue, TemplateForm } from './agent-types.js';

export interface FormField {
  readonly name: string;
  readonly def: ParameterDefinition;
  readonly required: boolean;
}

export type RawValues = Readonly<Record<string, string>>;

export interface Validation {
  /** Parameter values to send, present only for fields the user filled in. */
  readonly params: Readonly<Record<string, ParamValue>>;
  /** Messages by field name; empty when the form may be submitted. */
  readonly errors: Readonly<Record<string, string>>;
}

export function formFields(form: TemplateForm): FormField[] {
  const required = new Set(form.schema.required ?? []);
  return Object.entries(form.schema.properties).map(([name, def]) => ({
    name,
    def,
    required: required.has(name),
  }));
}

/** The form's starting text: defaults, then values given (a relaunch's or the settings'). */
export function initialValues(
  form: TemplateForm,
  given: Readonly<Record<string, ParamValue>> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { name, def } of formFields(form)) {
    const value = given[name] ?? def.default;
    out[name] = value === undefined ? '' : String(value);
  }
  return out;
}

/** The largest value allowed for `field` with the partition the form currently names. */
export function maximumFor(form: TemplateForm, field: string, raw: RawValues): number | undefined {
  const def = form.schema.properties[field];
  let max = def?.maximum;
  const partitionParam = form.partitionParam;
  if (partitionParam !== undefined) {
    const partition = raw[partitionParam] ?? '';
    const limit = form.partitionLimits[partition]?.[field]?.maximum;
    if (limit !== undefined) max = max === undefined ? limit : Math.min(max, limit);
  }
  return max;
}

export function validate(form: TemplateForm, raw: RawValues): Validation {
  const params: Record<string, ParamValue> = {};
  const errors: Record<string, string> = {};
  for (const { name, def, required } of formFields(form)) {
    const text = (raw[name] ?? '').trim();
    if (text === '') {
      if (required && def.default === undefined) errors[name] = `${def.title} is required.`;
      continue;
    }
    const result = parseValue(def, text, maximumFor(form, name, raw), form, raw);
    if (typeof result === 'object') errors[name] = result.error;
    else params[name] = result;
  }
  return { params, errors };
}

function parseValue(
  def: ParameterDefinition,
  text: string,
  maximum: number | undefined,
  form: TemplateForm,
  raw: RawValues,
): ParamValue | { error: string } {
  switch (def.type) {
    case 'boolean':
      if (text === 'true' || text === 'false') return text === 'true';
      return { error: 'Choose yes or no.' };
    case 'integer':
    case 'number': {
      const n = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) ? Number(text) : NaN;
      if (!Number.isFinite(n)) return { error: `${def.title} must be a number.` };
      if (def.type === 'integer' && !Number.isInteger(n)) {
        return { error: `${def.title} must be a whole number.` };
      }
      if (def.minimum !== undefined && n < def.minimum) {
        return { error: `${def.title} must be at least ${def.minimum}.` };
      }
      if (maximum !== undefined && n > maximum) {
        const partition = form.partitionParam === undefined ? '' : raw[form.partitionParam];
        const where =
          partition !== undefined && partition !== '' ? ` on partition ${partition}` : '';
        return { error: `${def.title} can be at most ${maximum}${where}.` };
      }
      return n;
    }
    case 'string': {
      if (def.enum !== undefined && !def.enum.map(String).includes(text)) {
        return { error: `Choose one of: ${def.enum.join(', ')}.` };
      }
      if (def.minLength !== undefined && text.length < def.minLength) {
        return { error: `${def.title} must be at least ${def.minLength} characters.` };
      }
      if (def.maxLength !== undefined && text.length > def.maxLength) {
        return { error: `${def.title} must be at most ${def.maxLength} characters.` };
      }
      if (def.pattern !== undefined && !new RegExp(def.pattern, 'u').test(text)) {
        return {
          error: `${def.title} must be ${def.patternErrorMessage ?? `like ${def.pattern}`}.`,
        };
      }
      return text;
    }
  }
}
