/**
 * The published JSON schema for clusters.yaml and its compiled ajv validator. The schema file is
 * the single source of truth: editors read it for completion and hover help, and this module
 * validates with exactly the same document. It sits at `packages/core/schema/`, two levels above
 * both `src/config/` and `dist/config/`, so the same relative URL works built and under vitest.
 */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/** Absolute path of the schema file, for editors' settings and `yaml-language-server` comments. */
export const CLUSTERS_SCHEMA_PATH = fileURLToPath(
  new URL('../../schema/clusters.schema.json', import.meta.url),
);

/**
 * Keywords the schema carries for editors (VS Code's JSON and YAML services read
 * `patternErrorMessage`); ajv must know them in strict mode. Our messages use them too.
 */
const EDITOR_KEYWORDS = ['patternErrorMessage', 'markdownDescription'];

let cached: { schema: Record<string, unknown>; validate: ValidateFunction } | undefined;

/** The parsed schema document. */
export function clustersSchema(): Record<string, unknown> {
  return compiled().schema;
}

/**
 * Validates a parsed config document. `verbose` puts the failing schema on each error so
 * messages can name allowed keys and use the schema's own wording.
 */
export function validateConfigDocument(value: unknown): ErrorObject[] {
  const { validate } = compiled();
  return validate(value) ? [] : [...(validate.errors ?? [])];
}

function compiled(): { schema: Record<string, unknown>; validate: ValidateFunction } {
  if (cached === undefined) {
    const schema = JSON.parse(readFileSync(CLUSTERS_SCHEMA_PATH, 'utf8')) as Record<
      string,
      unknown
    >;
    cached = { schema, validate: compileSchema(schema) };
  }
  return cached;
}

/** Compiles a schema with the options this module validates with (exported for the tests). */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  ajv.addVocabulary(EDITOR_KEYWORDS);
  return ajv.compile(schema);
}
