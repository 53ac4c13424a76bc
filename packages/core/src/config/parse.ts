/**
 * Parses and validates one config file's text: YAML syntax, then the JSON schema, entry by entry.
 * Pure (no file access), so editors and tests can call it on a buffer. A syntax error drops the
 * whole file; a schema problem drops only the cluster or profile it is in, so one typo does not
 * take its siblings down with it.
 */

import { LineCounter, parseDocument, type YAMLError } from 'yaml';
import { ConfigError } from '../errors.js';
import { describeSchemaErrors } from './messages.js';
import { validateConfigDocument } from './schema.js';
import type { ClusterConfig, LoadedCluster, LoadedProfile, ProfileConfig } from './types.js';
import { keyPathOf, YamlLines } from './yaml-lines.js';

export interface ParseConfigOptions {
  /** How to show the file in messages, e.g. with `~` for the home directory. Default: `file`. */
  readonly displayPath?: string;
}

export interface ParsedConfigFile {
  readonly file: string;
  readonly clusters: Map<string, LoadedCluster>;
  readonly profiles: Map<string, LoadedProfile>;
  /** Names of entries dropped for problems, so later checks can say why a name is missing. */
  readonly invalidClusters: ReadonlySet<string>;
  readonly invalidProfiles: ReadonlySet<string>;
  readonly problems: ConfigError[];
  /** Line lookup for this file (absent when it did not parse), for checks made after merging. */
  readonly lines: YamlLines | undefined;
}

/** Builds a ConfigError whose message starts with `file:line:` like a compiler's. */
export function configProblem(
  display: string,
  file: string,
  line: number | undefined,
  segments: readonly string[] | undefined,
  text: string,
  hint?: string,
): ConfigError {
  const at = line === undefined ? display : `${display}:${line}`;
  const keyPath = segments === undefined || segments.length === 0 ? undefined : keyPathOf(segments);
  return new ConfigError(`${at}: ${text}`, file, line, keyPath, { hint });
}

export function parseConfigText(
  text: string,
  file: string,
  options: ParseConfigOptions = {},
): ParsedConfigFile {
  const display = options.displayPath ?? file;
  const counter = new LineCounter();
  // `merge` lets site admins share settings between clusters with YAML anchors and `<<:`.
  const doc = parseDocument(text, { lineCounter: counter, merge: true, prettyErrors: true });
  const result = {
    file,
    clusters: new Map<string, LoadedCluster>(),
    profiles: new Map<string, LoadedProfile>(),
    invalidClusters: new Set<string>(),
    invalidProfiles: new Set<string>(),
    problems: [] as ConfigError[],
    lines: undefined as YamlLines | undefined,
  };
  if (doc.errors.length > 0) {
    for (const error of doc.errors) {
      result.problems.push(
        configProblem(display, file, error.linePos?.[0].line, undefined, syntaxText(error)),
      );
    }
    return result;
  }
  const lines = new YamlLines(doc, counter);
  result.lines = lines;

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 1000 });
  } catch (error) {
    // Alias expansion limits and unresolved aliases surface here rather than as doc.errors.
    const message = error instanceof Error ? error.message : String(error);
    result.problems.push(configProblem(display, file, undefined, undefined, message));
    return result;
  }
  if (value === null || value === undefined) return result; // empty file, or only comments

  const bad = { clusters: result.invalidClusters, profiles: result.invalidProfiles };
  for (const problem of describeSchemaErrors(validateConfigDocument(value))) {
    const [section, name] = problem.segments;
    if (name !== undefined && (section === 'clusters' || section === 'profiles')) {
      bad[section].add(name);
    }
    result.problems.push(
      configProblem(
        display,
        file,
        lines.lineOf(problem.segments),
        problem.segments,
        problem.text,
        problem.hint,
      ),
    );
  }
  result.problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));

  // The schema has vouched for the shape of every entry not marked bad.
  for (const [name, entry] of entries(value, 'clusters')) {
    if (bad.clusters.has(name)) continue;
    const line = lines.lineOf(['clusters', name]);
    result.clusters.set(name, { ...(entry as ClusterConfig), name, source: file, line });
  }
  for (const [name, entry] of entries(value, 'profiles')) {
    if (bad.profiles.has(name)) continue;
    const line = lines.lineOf(['profiles', name]);
    result.profiles.set(name, { ...(entry as ProfileConfig), name, source: file, line });
  }
  return result;
}

/** The entries of a top-level section, or none when the section is not a mapping. */
function entries(value: unknown, section: string): [string, unknown][] {
  if (!isRecord(value)) return [];
  const inner = value[section];
  return isRecord(inner) ? Object.entries(inner) : [];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** yaml's pretty message minus its position and source excerpt, which we show our own way. */
function syntaxText(error: YAMLError): string {
  const first = error.message.split('\n', 1)[0] ?? error.message;
  return `YAML syntax error: ${first.replace(/ at line \d+, column \d+:?$/, '')}`;
}
