/**
 * Reads a templates directory: `runtime/runtime.sh`, `common/parameters.yaml` and every
 * `<name>/manifest.yaml` with its `body.sh`. Manifests are validated on load; a problem is a
 * ConfigError that names the file, the line and the key. Other directories (no manifest.yaml)
 * are not templates and are skipped. A manifest with `compose: [ENGINE, FRONT_END]` has no
 * body.sh, parameters or resources of its own: it is made from the two named templates, once all
 * are loaded.
 */

import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, isScalar, isSeq, parseDocument } from 'yaml';
import { describeSchemaErrors, type SchemaProblem } from '../config/messages.js';
import { configProblem } from '../config/parse.js';
import { YamlLines } from '../config/yaml-lines.js';
import { ConfigError, throwIfAborted } from '../errors.js';
import { resolveManifest, type RawManifest } from './manifest-resolve.js';
import { schemaErrors } from './manifest-schema.js';
import type {
  ParameterDefinition,
  ParameterSchema,
  ResourceField,
  ResourceSource,
  Template,
  TemplateKind,
} from './types.js';

export interface LoadTemplatesOptions {
  readonly signal?: AbortSignal;
}

export const RUNTIME_FILE = path.join('runtime', 'runtime.sh');
export const COMMON_PARAMETERS_FILE = path.join('common', 'parameters.yaml');

/** All templates in `dir` by name, sorted by name. */
export async function loadTemplates(
  dir: string,
  options: LoadTemplatesOptions = {},
): Promise<Map<string, Template>> {
  const { signal } = options;
  throwIfAborted(signal);
  const runtime = await readText(path.join(dir, RUNTIME_FILE), signal);
  const commonFile = path.join(dir, COMMON_PARAMETERS_FILE);
  const common = parseCommon(await readText(commonFile, signal), commonFile);

  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new ConfigError(`Cannot read the templates directory ${dir}`, dir, undefined, undefined, {
      cause: error,
    });
  }
  const names = entries
    .filter((e) => e.isDirectory() && !/^[._]/.test(e.name))
    .map((e) => e.name)
    .sort();
  const templates = new Map<string, Template>();
  const composed: { name: string; file: string; text: string; parts: readonly string[] }[] = [];
  for (const name of names) {
    throwIfAborted(signal);
    const manifestFile = path.join(dir, name, 'manifest.yaml');
    const text = await readText(manifestFile, signal, { optional: true });
    if (text === undefined) continue;
    const parts = composeOf(text);
    const bodyFile = path.join(dir, name, 'body.sh');
    let body = '';
    if (parts === undefined) {
      body = await readText(bodyFile, signal);
    } else if ((await readText(bodyFile, signal, { optional: true })) !== undefined) {
      throw configProblem(
        manifestFile,
        manifestFile,
        lineOf(text, ['compose']),
        ['compose'],
        `a template made with compose runs the bodies of ${parts.join(' and ')}; remove ${bodyFile}`,
      );
    }
    const template = parseManifest(text, manifestFile, { common, commonFile, runtime, body });
    if (template.name !== name) {
      throw configProblem(
        manifestFile,
        manifestFile,
        lineOf(text, ['name']),
        ['name'],
        `name '${template.name}' must be the name of its directory, '${name}'`,
      );
    }
    templates.set(name, template);
    if (parts !== undefined) composed.push({ name, file: manifestFile, text, parts });
  }
  for (const c of composed) {
    const template = templates.get(c.name);
    if (template !== undefined) templates.set(c.name, composeTemplate(template, c, templates));
  }
  return templates;
}

/** The `compose` list of a manifest's text, if it has one (the manifest is validated later). */
function composeOf(text: string): readonly string[] | undefined {
  const value = parseDocument(text).get('compose');
  return isSeq(value)
    ? value.items.map((item) => String(isScalar(item) ? item.value : item))
    : undefined;
}

/**
 * A composed template from its two parts: parameters and resources of both (the engine's
 * definition of a name first), the engine's body and then the front end's.
 */
function composeTemplate(
  template: Template,
  c: { readonly file: string; readonly text: string; readonly parts: readonly string[] },
  templates: ReadonlyMap<string, Template>,
): Template {
  const problem = (index: number, text: string): ConfigError =>
    configProblem(
      c.file,
      c.file,
      lineOf(c.text, ['compose', String(index)]),
      ['compose', String(index)],
      text,
    );
  const parts = c.parts.map((name, i) => {
    const part = templates.get(name);
    if (part === undefined) {
      throw problem(i, `there is no template '${name}' to compose`);
    }
    if (part.compose !== undefined) throw problem(i, `'${name}' is itself composed`);
    return part;
  });
  const [engine, frontEnd] = parts as [Template, Template];
  if (engine.kind !== 'engine') {
    throw problem(0, `'${engine.name}' must be an engine template (its kind is ${engine.kind})`);
  }
  if (frontEnd.kind !== template.kind) {
    throw problem(
      1,
      `'${frontEnd.name}' starts a ${frontEnd.kind}, but this template's kind is ${template.kind}`,
    );
  }
  const properties: Record<string, ParameterDefinition> = {};
  const resources: Partial<Record<ResourceField, ResourceSource>> = {};
  const required = new Set<string>();
  for (const part of parts) {
    for (const [name, def] of Object.entries(part.parameters.properties)) properties[name] ??= def;
    for (const [field, source] of Object.entries(part.resources) as [
      ResourceField,
      ResourceSource,
    ][])
      resources[field] ??= source;
    for (const name of part.parameters.required ?? []) required.add(name);
  }
  const parameters: ParameterSchema = {
    type: 'object',
    properties,
    ...(required.size === 0 ? {} : { required: [...required] }),
    additionalProperties: false,
  };
  const bodies = parts.map((part) => ({ template: part.name, body: part.body }));
  return {
    ...template,
    parameters,
    resources,
    body: bodies.map((b) => b.body).join('\n'),
    compose: { engine: engine.name, frontEnd: frontEnd.name, bodies },
  };
}

export interface ManifestContext {
  readonly common: Readonly<Record<string, ParameterDefinition>>;
  /** Absolute path of the shared definitions, which `$ref`s resolve against. */
  readonly commonFile: string;
  readonly runtime: string;
  readonly body: string;
}

/** Parses and validates one manifest's text (exported for tests and editors). */
export function parseManifest(text: string, file: string, context: ManifestContext): Template {
  const { value, lines } = parseYaml(text, file);
  const first = firstProblem(describeSchemaErrors(schemaErrors('manifest', value)), file, lines);
  if (first !== undefined) throw first;
  const manifest = value as Partial<RawManifest> & {
    name: string;
    title: string;
    description: string;
    kind: TemplateKind;
    compose?: string[];
  };
  if (manifest.compose !== undefined) {
    // Made from other templates once all are loaded (loadTemplates): nothing of its own yet.
    for (const key of ['parameters', 'resources'] as const) {
      if (manifest[key] !== undefined) {
        throw configProblem(
          file,
          file,
          lines.lineOf([key]),
          [key],
          `a template made with compose takes its ${key} from ${manifest.compose.join(' and ')}; remove '${key}'`,
        );
      }
    }
    return {
      name: manifest.name,
      title: manifest.title,
      description: manifest.description,
      kind: manifest.kind,
      parameters: { type: 'object', properties: {}, additionalProperties: false },
      resources: {},
      body: '',
      runtime: context.runtime,
      source: file,
    };
  }
  if (manifest.parameters === undefined) {
    throw configProblem(file, file, undefined, undefined, "the top level is missing 'parameters'");
  }
  const raw = manifest as RawManifest;
  const dir = path.dirname(file);
  const resolved = resolveManifest(
    raw,
    context.common,
    (ref) => path.resolve(dir, ref) === path.resolve(context.commonFile),
  );
  if (Array.isArray(resolved)) {
    throw firstProblem(resolved, file, lines) ?? new Error('unreachable: no problem reported');
  }
  return {
    name: manifest.name,
    title: manifest.title,
    description: manifest.description,
    kind: manifest.kind,
    parameters: resolved.parameters,
    resources: resolved.resources,
    body: context.body,
    runtime: context.runtime,
    source: file,
  };
}

function parseCommon(text: string, file: string): Record<string, ParameterDefinition> {
  const { value, lines } = parseYaml(text, file);
  const first = firstProblem(describeSchemaErrors(schemaErrors('common', value)), file, lines);
  if (first !== undefined) throw first;
  return (value ?? {}) as Record<string, ParameterDefinition>;
}

function parseYaml(text: string, file: string): { value: unknown; lines: YamlLines } {
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: true });
  const error = doc.errors[0];
  if (error !== undefined) {
    const line = error.linePos?.[0].line;
    throw configProblem(file, file, line, undefined, `not valid YAML: ${error.message}`);
  }
  return { value: doc.toJS({ maxAliasCount: 100 }) as unknown, lines: new YamlLines(doc, counter) };
}

/** The first problem as a ConfigError, mentioning how many more there are. */
function firstProblem(
  problems: readonly SchemaProblem[],
  file: string,
  lines: YamlLines,
): ConfigError | undefined {
  const [first, ...rest] = problems;
  if (first === undefined) return undefined;
  const more =
    rest.length === 0 ? '' : ` (and ${rest.length} more problem${rest.length === 1 ? '' : 's'})`;
  return configProblem(
    file,
    file,
    lines.lineOf(first.segments),
    first.segments,
    `${first.text}${more}`,
    first.hint,
  );
}

function lineOf(text: string, segments: readonly string[]): number | undefined {
  const counter = new LineCounter();
  return new YamlLines(parseDocument(text, { lineCounter: counter }), counter).lineOf(segments);
}

async function readText(
  file: string,
  signal: AbortSignal | undefined,
  options: { optional: true },
): Promise<string | undefined>;
async function readText(file: string, signal: AbortSignal | undefined): Promise<string>;
async function readText(
  file: string,
  signal: AbortSignal | undefined,
  options?: { optional: true },
): Promise<string | undefined> {
  try {
    return await readFile(file, { encoding: 'utf8', ...(signal === undefined ? {} : { signal }) });
  } catch (error) {
    throwIfAborted(signal);
    if (options?.optional === true && (error as NodeJS.ErrnoException).code === 'ENOENT') {
      return undefined;
    }
    throw new ConfigError(
      `Cannot read ${file}: ${(error as Error).message}`,
      file,
      undefined,
      undefined,
      {
        cause: error,
        hint: 'A templates directory holds runtime/runtime.sh, common/parameters.yaml and one directory per template with manifest.yaml and body.sh.',
      },
    );
  }
}
