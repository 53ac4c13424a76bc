/**
 * The JSON schemas of the template files: `manifest.yaml` (parameters may still hold `$ref`s to
 * the shared definitions), a parameter definition once resolved, and `common/parameters.yaml`.
 * Structure only; what a schema cannot say (a mapped parameter exists, a default is within its
 * bounds) is checked in manifest-resolve.ts.
 */

import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { TEMPLATE_KINDS } from './types.js';

const VALUE_TYPES = ['string', 'number', 'boolean'];

/** The keywords of a parameter definition; every one optional until `$ref`s are resolved. */
const definitionProperties = {
  type: { type: 'string', enum: ['integer', 'number', 'string', 'boolean'] },
  title: { type: 'string', minLength: 1, maxLength: 80 },
  description: { type: 'string', minLength: 1 },
  default: { type: VALUE_TYPES },
  minimum: { type: 'number' },
  maximum: { type: 'number' },
  enum: { type: 'array', minItems: 1, uniqueItems: true, items: { type: VALUE_TYPES } },
  pattern: { type: 'string', minLength: 1 },
  patternErrorMessage: { type: 'string', minLength: 1 },
  minLength: { type: 'integer', minimum: 0 },
  maxLength: { type: 'integer', minimum: 0 },
  'x-options': { type: 'string', enum: ['partitions', 'accounts', 'qos'] },
} as const;

/** A definition as written in a manifest: `$ref` plus overrides, or complete. */
const rawDefinition = {
  type: 'object',
  properties: {
    $ref: {
      type: 'string',
      pattern: '^[^#]+#/[A-Za-z][A-Za-z0-9]*$',
      patternErrorMessage: 'a reference such as ../common/parameters.yaml#/nodes',
    },
    ...definitionProperties,
  },
  additionalProperties: false,
} as const;

/** A complete definition: what a manifest's parameter is after its `$ref` is resolved. */
export const PARAMETER_DEFINITION_SCHEMA = {
  type: 'object',
  required: ['type', 'title', 'description'],
  properties: definitionProperties,
  additionalProperties: false,
} as const;

/** `common/parameters.yaml`: shared definitions by name. */
export const COMMON_PARAMETERS_SCHEMA = {
  type: 'object',
  propertyNames: { pattern: '^[a-z][A-Za-z0-9]*$' },
  additionalProperties: PARAMETER_DEFINITION_SCHEMA,
} as const;

/** Where a resource comes from: a parameter name, a number, or `{ param, scale }` / `{ value }`. */
const resourceSource = {
  type: ['string', 'number', 'object'],
  properties: {
    param: { type: 'string', minLength: 1 },
    scale: { type: 'number', exclusiveMinimum: 0 },
    value: { type: ['string', 'number'] },
  },
  additionalProperties: false,
  minProperties: 1,
} as const;

/** `<name>/manifest.yaml`. */
export const MANIFEST_SCHEMA = {
  $comment: 'hpc-jupyter job template manifest',
  type: 'object',
  required: ['name', 'title', 'description', 'kind'],
  // `parameters` is required unless `compose` is given (checked by the loader): a template made
  // of others takes their parameters and resources.
  properties: {
    name: {
      type: 'string',
      pattern: '^[a-z][a-z0-9-]*$',
      patternErrorMessage: 'lower-case letters, digits and -, starting with a letter',
      maxLength: 64,
    },
    title: { type: 'string', minLength: 1, maxLength: 80 },
    description: { type: 'string', minLength: 1 },
    kind: { type: 'string', enum: TEMPLATE_KINDS },
    // [engine, front end]: e.g. [spark, kernel], a kernel whose job also runs a Spark cluster.
    compose: {
      type: 'array',
      minItems: 2,
      maxItems: 2,
      uniqueItems: true,
      items: {
        type: 'string',
        pattern: '^[a-z][a-z0-9-]*$',
        patternErrorMessage: 'the name of a template in the same directory',
      },
    },
    parameters: {
      type: 'object',
      required: ['type', 'properties'],
      properties: {
        type: { type: 'string', const: 'object' },
        properties: { type: 'object', additionalProperties: rawDefinition },
        required: { type: 'array', uniqueItems: true, items: { type: 'string' } },
        additionalProperties: { type: 'boolean', const: false },
      },
      additionalProperties: false,
    },
    resources: {
      type: 'object',
      properties: Object.fromEntries(
        [
          'nodes',
          'tasksPerNode',
          'cpusPerTask',
          'memoryMiB',
          'gpusPerNode',
          'walltimeMinutes',
          'partition',
          'account',
          'qos',
          'mailOnStart',
        ].map((field) => [field, resourceSource]),
      ),
      additionalProperties: false,
    },
  },
  additionalProperties: false,
} as const;

export type SchemaName = 'manifest' | 'definition' | 'common';

let validators: Record<SchemaName, ValidateFunction> | undefined;

/** The ajv errors of `value` against one of the schemas; empty when it is valid. */
export function schemaErrors(name: SchemaName, value: unknown): ErrorObject[] {
  validators ??= compileAll();
  const validate = validators[name];
  return validate(value) ? [] : [...(validate.errors ?? [])];
}

function compileAll(): Record<SchemaName, ValidateFunction> {
  // `verbose` puts the failing schema on each error, from which the messages name allowed keys.
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  ajv.addVocabulary(['patternErrorMessage']);
  return {
    manifest: ajv.compile(MANIFEST_SCHEMA),
    definition: ajv.compile(PARAMETER_DEFINITION_SCHEMA),
    common: ajv.compile(COMMON_PARAMETERS_SCHEMA),
  };
}
