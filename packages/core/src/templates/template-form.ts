/**
 * A template's parameters as a launch form for one cluster: choices for partition, account and
 * QOS from the site (only those the user may use), site defaults, and the limits of each
 * partition translated into bounds of the parameters mapped onto nodes, walltime, CPUs, memory and
 * GPUs. Pure; `validateParams` applies the same limits.
 */

import type { PartitionInfo, SiteInfo } from '../schedulers/types.js';
import type {
  Bounds,
  ParameterDefinition,
  ParameterSchema,
  ResourceField,
  Template,
  TemplateForm,
} from './types.js';

/** One partition's limits in resource units, for the parameter mapped onto each resource. */
export interface ResourceLimit {
  readonly param: string;
  readonly field: ResourceField;
  readonly scale: number;
  /** The largest resource value (after scaling) the partition allows. */
  readonly limit: number;
  /** The same limit in the parameter's units, as a form shows it. */
  readonly maximum: number;
}

export function templateForm(template: Template, siteInfo?: SiteInfo): TemplateForm {
  const schema = siteSchema(template, siteInfo);
  const partitionParam = findPartitionParam(schema);
  const partitionLimits: Record<string, Record<string, Bounds>> = {};
  for (const partition of usablePartitions(siteInfo)) {
    const bounds: Record<string, Bounds> = {};
    for (const limit of resourceLimits(template, partition)) {
      bounds[limit.param] = { maximum: limit.maximum };
    }
    partitionLimits[partition.name] = bounds;
  }
  const current = chosenPartition(schema, partitionParam, undefined, siteInfo);
  const narrowed =
    current === undefined ? schema : narrow(schema, resourceLimits(template, current));
  return {
    name: template.name,
    title: template.title,
    description: template.description,
    kind: template.kind,
    schema: narrowed,
    ...(partitionParam === undefined ? {} : { partitionParam }),
    partitionLimits,
  };
}

/** The parameter schema with the site's choices and defaults, before any partition's limits. */
export function siteSchema(template: Template, siteInfo: SiteInfo | undefined): ParameterSchema {
  if (siteInfo === undefined) return template.parameters;
  const properties: Record<string, ParameterDefinition> = {};
  for (const [name, def] of Object.entries(template.parameters.properties)) {
    properties[name] = withSiteOptions(def, siteInfo);
  }
  return { ...template.parameters, properties };
}

function withSiteOptions(def: ParameterDefinition, site: SiteInfo): ParameterDefinition {
  let choices: readonly string[];
  let siteDefault: string | undefined;
  switch (def['x-options']) {
    case undefined:
      return def;
    case 'partitions': {
      const usable = usablePartitions(site);
      choices = usable.map((p) => p.name);
      siteDefault = usable.find((p) => p.isDefault)?.name;
      break;
    }
    case 'accounts':
      choices = site.accounts;
      siteDefault = site.defaultAccount;
      break;
    case 'qos':
      choices = site.qos;
      break;
  }
  // An empty list means the site has none of them (no accounting, no QOS): keep free text.
  if (choices.length === 0) return def;
  const own = def.enum;
  const allowed = own === undefined ? [...choices] : choices.filter((c) => own.includes(c));
  const { default: ownDefault, ...rest } = def;
  const fallback = ownDefault ?? siteDefault;
  const usableDefault = fallback !== undefined && allowed.includes(String(fallback));
  return { ...rest, enum: allowed, ...(usableDefault ? { default: fallback } : {}) };
}

/** Partitions a job can be submitted to now; a down or inactive one would never start it. */
export function usablePartitions(site: SiteInfo | undefined): readonly PartitionInfo[] {
  return site?.partitions.filter((p) => p.available) ?? [];
}

export function findPartitionParam(schema: ParameterSchema): string | undefined {
  return Object.entries(schema.properties).find(
    ([, def]) => def['x-options'] === 'partitions',
  )?.[0];
}

/** The partition whose limits apply: the chosen value, else the parameter's (site) default. */
export function chosenPartition(
  schema: ParameterSchema,
  partitionParam: string | undefined,
  value: unknown,
  site: SiteInfo | undefined,
): PartitionInfo | undefined {
  const usable = usablePartitions(site);
  const def = partitionParam === undefined ? undefined : schema.properties[partitionParam];
  const name = typeof value === 'string' && value !== '' ? value : def?.default;
  if (name !== undefined) return usable.find((p) => p.name === name);
  return usable.find((p) => p.isDefault);
}

/** What `partition` allows of each resource a template maps from a parameter. */
export function resourceLimits(template: Template, partition: PartitionInfo): ResourceLimit[] {
  const mapping = template.resources;
  const tasks = mapping.tasksPerNode;
  const tasksPerNode = tasks !== undefined && 'value' in tasks ? Number(tasks.value) : 1;
  const limits: Partial<Record<ResourceField, number | undefined>> = {
    nodes: minDefined(partition.maxNodes, partition.totalNodes),
    walltimeMinutes: partition.maxWalltimeMinutes,
    cpusPerTask:
      partition.cpusPerNode === undefined
        ? undefined
        : Math.floor(partition.cpusPerNode / Math.max(1, tasksPerNode)),
    tasksPerNode: partition.cpusPerNode,
    memoryMiB: partition.memoryMiBPerNode,
    gpusPerNode: partition.gpusPerNode,
  };
  const result: ResourceLimit[] = [];
  for (const [field, limit] of Object.entries(limits) as [ResourceField, number | undefined][]) {
    const source = mapping[field];
    if (limit === undefined || source === undefined || !('param' in source)) continue;
    const def = template.parameters.properties[source.param];
    if (def === undefined) continue;
    const scale = source.scale ?? 1;
    const exact = limit / scale;
    // The largest value that, scaled and rounded as the renderer does, stays within the limit.
    const maximum =
      def.type === 'integer' ? Math.floor(exact + 1e-9) : Math.floor(exact * 100 + 1e-9) / 100;
    result.push({ param: source.param, field, scale, limit, maximum });
  }
  return result;
}

/** The schema with the limits as `maximum`s, and defaults above them lowered to them. */
function narrow(schema: ParameterSchema, limits: readonly ResourceLimit[]): ParameterSchema {
  const properties: Record<string, ParameterDefinition> = { ...schema.properties };
  for (const { param, maximum } of limits) {
    const def = properties[param];
    if (def === undefined) continue;
    const max = def.maximum === undefined ? maximum : Math.min(def.maximum, maximum);
    const lowered = typeof def.default === 'number' && def.default > max ? { default: max } : {};
    properties[param] = { ...def, maximum: max, ...lowered };
  }
  return { ...schema, properties };
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
