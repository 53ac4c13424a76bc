/**
 * The shapes of job templates: a loaded template (manifest + body + the shared runtime), its
 * parameter schema, how parameters map onto a ResourceRequest, and what rendering produces.
 */

import type { ResourceRequest, SchedulerKind } from '../schedulers/types.js';

/** What a template starts: a Jupyter server, one kernel, or (later) a cluster engine. */
export type TemplateKind = 'server' | 'kernel' | 'engine';

export const TEMPLATE_KINDS: readonly TemplateKind[] = ['server', 'kernel', 'engine'];

export type ParameterType = 'integer' | 'number' | 'string' | 'boolean';

/** Where `x-options` takes a parameter's choices from: the cluster's SiteInfo. */
export type SiteOptions = 'partitions' | 'accounts' | 'qos';

export type ParamValue = string | number | boolean;

/** Validated parameter values by name, defaults applied; unset optional parameters are absent. */
export type ParamValues = Readonly<Record<string, ParamValue>>;

/**
 * One parameter: a JSON schema restricted to the keywords a launch form, the CLI and
 * `validateParams` all understand.
 */
export interface ParameterDefinition {
  readonly type: ParameterType;
  readonly title: string;
  /** Help text shown beside the field and in `--help`. */
  readonly description: string;
  readonly default?: ParamValue;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly enum?: readonly ParamValue[];
  readonly pattern?: string;
  /** What `pattern` allows, in words ("an e-mail address"); read by VS Code's YAML/JSON help too. */
  readonly patternErrorMessage?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly 'x-options'?: SiteOptions;
}

/** A template's parameters as a JSON schema object, with shared definitions resolved. */
export interface ParameterSchema {
  readonly type: 'object';
  readonly properties: Readonly<Record<string, ParameterDefinition>>;
  readonly required?: readonly string[];
  readonly additionalProperties: false;
}

/** The ResourceRequest fields a manifest may set; name, workdir and output belong to the renderer. */
export type ResourceField =
  | 'nodes'
  | 'tasksPerNode'
  | 'cpusPerTask'
  | 'memoryMiB'
  | 'gpusPerNode'
  | 'walltimeMinutes'
  | 'partition'
  | 'account'
  | 'qos'
  | 'mailOnStart';

export const NUMERIC_RESOURCE_FIELDS = [
  'nodes',
  'tasksPerNode',
  'cpusPerTask',
  'memoryMiB',
  'gpusPerNode',
  'walltimeMinutes',
] as const satisfies readonly ResourceField[];

export const STRING_RESOURCE_FIELDS = [
  'partition',
  'account',
  'qos',
  'mailOnStart',
] as const satisfies readonly ResourceField[];

/**
 * Where one resource comes from: a parameter (times `scale`, rounded to a whole number, e.g.
 * hours * 60 = walltimeMinutes) or a fixed value.
 */
export type ResourceSource =
  { readonly param: string; readonly scale?: number } | { readonly value: number | string };

export type ResourceMapping = Readonly<Partial<Record<ResourceField, ResourceSource>>>;

export interface Template {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly kind: TemplateKind;
  readonly parameters: ParameterSchema;
  readonly resources: ResourceMapping;
  /** The template's shell body (body.sh); of a composed template, its parts' bodies in order. */
  readonly body: string;
  /**
   * A template made of others (manifest `compose`): an engine and the front end that uses it, in
   * one job. Its parameters and resources are theirs (the first one's definition of a name wins);
   * the engine's body runs first and returns once the engine is ready, then the front end's.
   */
  readonly compose?: ComposedParts;
  /** The shared shell runtime (runtime/runtime.sh), inlined before the body. */
  readonly runtime: string;
  /** The manifest file it was loaded from, for messages. */
  readonly source: string;
}

export interface ComposedParts {
  /** The engine template's name (`spark`): the job gets it as HPCJ_ENGINE. */
  readonly engine: string;
  /** The front end's template name (`kernel`). */
  readonly frontEnd: string;
  /** The bodies of the two, engine first. */
  readonly bodies: readonly { readonly template: string; readonly body: string }[];
}

/** What a job needs to know besides its parameters. */
export interface RenderContext {
  /** Letters, digits, `_` and `-`: it becomes part of a URL path and of the job name. */
  readonly sessionId: string;
  /** Absolute path of the session directory on the cluster (0700, made by the agent). */
  readonly sessionDir: string;
  readonly scheduler: SchedulerKind;
  /** Trusted shell text from the cluster config (module loads, venv activation), run as is. */
  readonly prologue?: string;
  /** The Python that runs the job's servers; default `python3`. */
  readonly python?: string;
  /** Default `hpcj-<sessionId>`. */
  readonly jobName?: string;
}

export interface RenderedJob {
  /** The batch script, `#!` first; the scheduler adapter adds its directives after that line. */
  readonly script: string;
  readonly resources: ResourceRequest;
  /** Contents of `<sessionDir>/job.env`, to be written with mode 0600 before submission. */
  readonly envFile: string;
}

/** Numeric bounds that apply to one parameter. */
export interface Bounds {
  readonly minimum?: number;
  readonly maximum?: number;
}

/** A template's parameters as a launch form for one cluster. */
export interface TemplateForm {
  readonly name: string;
  readonly title: string;
  readonly description: string;
  readonly kind: TemplateKind;
  /** With choices from the site and the bounds of the default partition. */
  readonly schema: ParameterSchema;
  /** The name of the parameter that picks the partition, if the template has one. */
  readonly partitionParam?: string;
  /** Bounds by partition name, then parameter name: apply them when that partition is picked. */
  readonly partitionLimits: Readonly<Record<string, Readonly<Record<string, Bounds>>>>;
}
