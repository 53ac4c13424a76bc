/**
 * Reads a templates directory: `runtime/runtime.sh`, `common/parameters.yaml` and every
 * `<name>/manifest.yaml` with its `body.sh`. Manifests are validated on load; a problem is a
 * ConfigError that names the file, the line and the key. Other directories (no manifest.yaml)
 * are not templates and are skipped.
 */

import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { describeSchemaErrors, type SchemaProblem } from '../config/messages.js';
import { configProblem } from '../config/parse.js';
import { YamlLines } from '../config/yaml-lines.js';
import { ConfigError, throwIfAborted } from '../errors.js';
import { resolveManifest, type RawManifest } from './manifest-resolve.js';
import { schemaErrors } from './manifest-schema.js';
import type { ParameterDefinition, Template, TemplateKind } from './types.js';

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
  for (const name of names) {
    throwIfAborted(signal);
    const manifestFile = path.join(dir, name, 'manifest.yaml');
    const text = await readText(manifestFile, signal, { optional: true });
    if (text === undefined) continue;
    const body = await readText(path.join(dir, name, 'body.sh'), signal);
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
  }
  return templates;
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
  const manifest = value as RawManifest & {
    name: string;
    title: string;
    description: string;
    kind: TemplateKind;
  };
  const dir = path.dirname(file);
  const resolved = resolveManifest(
    manifest,
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
