/**
 * Job templates: loading and validating them, launch forms with the cluster's choices, parameter
 * validation, and the pure renderer of batch scripts, resource requests and env files.
 */

import { fileURLToPath } from 'node:url';

/**
 * The repository's `templates/` directory. The same relative URL works from `src/templates/`
 * under vitest and from `dist/templates/` when built.
 */
export const BUILTIN_TEMPLATES_DIR = fileURLToPath(
  new URL('../../../../templates/', import.meta.url),
);

export { loadTemplates, parseManifest, type LoadTemplatesOptions } from './template-loader.js';
export { templateForm } from './template-form.js';
export { validateParams } from './validate-params.js';
export { renderJob, renderScript } from './render-job.js';
export { paramEnvName, renderEnvFile } from './env-file.js';
export { MANIFEST_SCHEMA, PARAMETER_DEFINITION_SCHEMA } from './manifest-schema.js';
export type * from './types.js';
export { TEMPLATE_KINDS } from './types.js';
export { kernelTemplateFor, kernelTemplateNames } from './kernel-template.js';
