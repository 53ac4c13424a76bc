/**
 * Validates job parameter values, from a launch form (typed) or the CLI (`--param k=v` strings),
 * against a template and, when known, the cluster: the partitions, accounts and QOS the user may
 * use and the chosen partition's limits. Every bad field is reported in one error.
 */

import { InvalidParametersError, type ParameterProblem } from '../errors.js';
import type { SiteInfo } from '../schedulers/types.js';
import { checkParam, formatNumber, isBlank, show } from './param-values.js';
import {
  chosenPartition,
  findPartitionParam,
  resourceLimits,
  siteSchema,
} from './template-form.js';
import type { ParamValue, ParamValues, Template } from './types.js';

/**
 * The typed values with defaults applied (unset optional parameters without a default are
 * absent), or InvalidParametersError listing every problem with what is allowed. Blank strings
 * count as unset. Defaults above the chosen partition's limits are lowered to them.
 */
export function validateParams(
  template: Template,
  values: Readonly<Record<string, unknown>>,
  siteInfo?: SiteInfo,
): ParamValues {
  const schema = siteSchema(template, siteInfo);
  const properties = schema.properties;
  const problems: ParameterProblem[] = [];
  const known = Object.keys(properties);

  for (const name of Object.keys(values)) {
    if (!Object.hasOwn(properties, name)) {
      problems.push({
        param: name,
        message: `${name} is not a parameter of ${template.name}; its parameters are: ${known.join(', ')}`,
      });
    }
  }

  const out: Record<string, ParamValue> = {};
  const defaulted = new Set<string>();
  const required = new Set(schema.required ?? []);
  for (const [name, def] of Object.entries(properties)) {
    const raw = values[name];
    if (isBlank(raw)) {
      if (def.default !== undefined) {
        out[name] = def.default;
        defaulted.add(name);
      } else if (required.has(name)) {
        problems.push({ param: name, message: `${name} is required: ${def.description}` });
      }
      continue;
    }
    const checked = checkParam(name, def, raw);
    if (checked.ok) out[name] = checked.value;
    else problems.push({ param: name, message: checked.message });
  }

  const partitionParam = findPartitionParam(schema);
  const partitionValue = partitionParam === undefined ? undefined : out[partitionParam];
  const partition = chosenPartition(schema, partitionParam, partitionValue, siteInfo);
  if (partition !== undefined) {
    for (const limit of resourceLimits(template, partition)) {
      const value = out[limit.param];
      if (typeof value !== 'number' || problems.some((p) => p.param === limit.param)) continue;
      // Compared as the renderer will round it, so 1.67 hours on a 100-minute partition passes.
      if (Math.round(value * limit.scale) <= limit.limit) continue;
      if (defaulted.has(limit.param)) {
        out[limit.param] = limit.maximum;
        continue;
      }
      problems.push({
        param: limit.param,
        message:
          `${limit.param} must be at most ${formatNumber(limit.maximum)} on partition ` +
          `${show(partition.name)}, got ${formatNumber(value)}`,
      });
    }
  }

  if (problems.length > 0) {
    throw new InvalidParametersError(template.name, problems, {
      hint: 'Change the values listed; each line says what is allowed.',
    });
  }
  return out;
}
