/**
 * What `setup --create-venv` installs besides the job wheel. From an index (the site's, or pip's
 * default there): the packages every template runs (as python/requirements.txt pins them for
 * this repository's tests, less what only the client side needs). From a wheelhouse: every
 * project in it (the user chose what to put there), with the same bounds where we have one.
 */

/** The engines' packages, by normalized project name: the requirement pip is given. */
export const ENGINE_REQUIREMENTS: ReadonlyMap<string, string> = new Map([
  ['jupyterlab', 'jupyterlab>=4.2,<5'],
  ['jupyter-server', 'jupyter-server>=2.14,<3'],
  ['ipykernel', 'ipykernel>=6.29,<8'],
  ['cryptography', 'cryptography>=42'],
  ['dask', 'dask[distributed]>=2024.8'],
  ['bokeh', 'bokeh>=3.1'],
  ['ipyparallel', 'ipyparallel>=8.8'],
  ['pyspark', 'pyspark[connect]>=4,<5'],
  ['pandas', 'pandas>=2.2,<3'],
]);

/** Bounds for projects found in a wheelhouse (no extras: the wheelhouse says what is there). */
const WHEELHOUSE_BOUNDS: ReadonlyMap<string, string> = new Map([
  ['jupyterlab', '>=4.2,<5'],
  ['jupyter-server', '>=2.14,<3'],
  ['ipykernel', '>=6.29,<8'],
  ['pyspark', '>=4,<5'],
  ['pandas', '>=2.2,<3'],
]);

/** PEP 503 normalization: `Jupyter_Server` -> `jupyter-server`. */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, '-').toLowerCase();
}

/** The project a distribution file is of (wheel or sdist), or undefined for other files. */
export function projectOfFile(file: string): string | undefined {
  const wheel = /^([A-Za-z0-9][A-Za-z0-9._]*?)-[^-]+(-[^-]+)?-[^-]+-[^-]+-[^-]+\.whl$/.exec(file);
  if (wheel?.[1] !== undefined) return normalizeName(wheel[1]);
  const sdist = /^(.+?)-\d[^-]*\.(tar\.gz|zip)$/.exec(file);
  if (sdist?.[1] !== undefined) return normalizeName(sdist[1]);
  return undefined;
}

/** Whether setup uploads and installs this file of a wheelhouse. */
export function isDistributionFile(file: string): boolean {
  return projectOfFile(file) !== undefined;
}

/**
 * The requirements for pip, and the project names whose presence makes an existing environment
 * complete: from the wheelhouse's files when there is one, else the engines' list.
 */
export function requirementsFor(wheelhouseFiles: readonly string[] | undefined): {
  readonly requirements: readonly string[];
  readonly projects: readonly string[];
} {
  if (wheelhouseFiles === undefined) {
    return {
      requirements: [...ENGINE_REQUIREMENTS.values()],
      projects: [...ENGINE_REQUIREMENTS.keys()],
    };
  }
  const projects = [
    ...new Set(
      wheelhouseFiles
        .map(projectOfFile)
        .filter((p): p is string => p !== undefined && p !== 'hpc-jupyter-job'),
    ),
  ].sort();
  return {
    requirements: projects.map((p) => `${p}${WHEELHOUSE_BOUNDS.get(p) ?? ''}`),
    projects,
  };
}
