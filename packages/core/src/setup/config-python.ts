/**
 * Sets a cluster's `python` in the user's config file: the file HPC_JUPYTER_CONFIG names (in a
 * directory of them, the file that defines the cluster), else `~/.config/hpc-jupyter/clusters.yaml`.
 * Edited through yaml's Document API, so comments and the rest of the file stay as they were, and
 * replaced atomically (0600). A cluster that the user's file does not define (a site's, or the
 * built-in `local`) is copied into it whole with the new `python`, since a cluster defined again
 * replaces the earlier definition as a whole; the result says so.
 */
import { mkdir, readFile, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isMap, parseDocument, type Document } from 'yaml';
import { configOverride, type Environment, tildify, userConfigPath } from '../config/paths.js';
import { BUILTIN_SOURCE, type LoadedCluster } from '../config/types.js';
import { HpcError, InvalidInputError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';

export interface PythonChange {
  /** The file written (or that would have been). */
  readonly file: string;
  readonly changed: boolean;
  readonly before: string | undefined;
  readonly after: string;
  /** Where the cluster's definition was copied from, when the file did not define it. */
  readonly copiedFrom?: string;
}

/** The config file `setup` writes a cluster's `python` into. */
export async function configFileFor(
  cluster: LoadedCluster,
  env: Environment = process.env,
  home = os.homedir(),
): Promise<string> {
  const override = configOverride(env, home);
  if (override === undefined) return userConfigPath(env, home);
  const info = await stat(override).catch(() => undefined);
  if (info?.isDirectory() !== true) return override;
  return cluster.source !== BUILTIN_SOURCE && path.dirname(cluster.source) === override
    ? cluster.source
    : path.join(override, 'clusters.yaml');
}

/** The cluster's definition as config keys, without what loading added. */
function entryOf(cluster: LoadedCluster): Record<string, unknown> {
  const entry: Record<string, unknown> = { ...cluster };
  for (const key of ['name', 'source', 'line']) entry[key] = undefined;
  return Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined));
}

/** Sets `clusters.<name>.python` in `file` to `python`; changes nothing when it already is. */
export async function setClusterPython(
  file: string,
  cluster: LoadedCluster,
  python: string,
  home = os.homedir(),
): Promise<PythonChange> {
  const target = await realpath(file).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return file;
    throw error;
  });
  const info = await stat(target).catch(() => undefined);
  if (info !== undefined && !info.isFile()) {
    throw new InvalidInputError(
      `The config file ${file} is not a regular file, so the cluster's python cannot be set in it.`,
      { hint: 'Point HPC_JUPYTER_CONFIG at a YAML file, or unset it.' },
    );
  }
  const text = info === undefined ? '' : await readFile(target, 'utf8');
  const doc: Document = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new HpcError(
      `${file} has YAML errors, so the cluster's python was not set: ${doc.errors[0]?.message ?? ''}`,
      { hint: 'Fix the file (`hpc-jupyter clusters` shows where), then run setup again.' },
    );
  }
  if (doc.contents === null) doc.contents = doc.createNode({});
  if (!isMap(doc.contents)) throw new HpcError(`${file} is not a YAML mapping at its top level.`);
  const entry = doc.getIn(['clusters', cluster.name], true);
  let copiedFrom: string | undefined;
  let before: string | undefined;
  if (isMap(entry)) {
    const current = doc.getIn(['clusters', cluster.name, 'python']);
    before = typeof current === 'string' ? current : undefined;
    if (before === python) return { file, changed: false, before, after: python };
    doc.setIn(['clusters', cluster.name, 'python'], python);
  } else {
    before = cluster.python;
    copiedFrom = cluster.source === BUILTIN_SOURCE ? 'the built-in definition' : cluster.source;
    const node = doc.createNode({ ...entryOf(cluster), python });
    if (!isMap(doc.get('clusters', true))) doc.set('clusters', doc.createNode({}));
    doc.setIn(['clusters', cluster.name], node);
  }
  await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  await writeFileAtomic(target, doc.toString(), { mode: 0o600 });
  return {
    file: tildify(file, home),
    changed: true,
    before,
    after: python,
    ...(copiedFrom === undefined ? {} : { copiedFrom: tildify(copiedFrom, home) }),
  };
}
