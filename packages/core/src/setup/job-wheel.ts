/**
 * The job wheel (`hpc_jupyter_job-<version>-py3-none-any.whl`: the `hpc_jupyter` code jobs run)
 * that `setup --create-venv` uploads to a cluster. An installed hpc-jupyter bundles it in
 * `job-wheel/` beside `dist/`; in a checkout without that directory it is built here from
 * templates/python, copied to a temporary directory first so the tree gets no build files, into
 * a cache keyed by the sources, so a second run reuses it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { HpcError } from '../errors.js';

export const JOB_DIST_NAME = 'hpc-jupyter-job';

export function jobWheelName(version: string): string {
  return `hpc_jupyter_job-${version}-py3-none-any.whl`;
}

/** `packages/core/job-wheel/`, where `npm run dist` puts the wheel, from dist/setup or src/setup. */
export const BUNDLED_WHEEL_DIR = fileURLToPath(new URL('../../job-wheel/', import.meta.url));
/** The job package's sources in a checkout. */
export const JOB_PACKAGE_SOURCE = fileURLToPath(
  new URL('../../../../templates/python/', import.meta.url),
);

/** The repository's own wheel writer (no build backend, no download), when in a checkout. */
export const WHEEL_SCRIPT = fileURLToPath(
  new URL('../../../../packaging/wheel.py', import.meta.url),
);

export class JobWheelError extends HpcError {
  override readonly name = 'JobWheelError';
}

export interface JobWheelOptions {
  readonly bundledDir?: string;
  readonly sourceDir?: string;
  /** Default: $XDG_CACHE_HOME/hpc-jupyter/job-wheel (or ~/.cache/...). */
  readonly cacheDir?: string;
  /** packaging/wheel.py of the checkout; pip wheel when it is missing. */
  readonly wheelScript?: string;
  /** The Python that builds the wheel; default HPC_JUPYTER_PYTHON, else python3. */
  readonly python?: string;
  readonly signal?: AbortSignal;
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  );
}

function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(homedir(), '.cache');
  return path.join(base, 'hpc-jupyter', 'job-wheel');
}

/** A digest of the files the wheel is made of, so a changed source makes a new wheel. */
async function sourceDigest(sourceDir: string): Promise<string> {
  const hash = createHash('sha256');
  const files = [
    'pyproject.toml',
    ...(await readdir(path.join(sourceDir, 'hpc_jupyter')))
      .filter((n) => n.endsWith('.py'))
      .sort()
      .map((n) => path.join('hpc_jupyter', n)),
  ];
  for (const f of files) {
    hash
      .update(f)
      .update('\0')
      .update(await readFile(path.join(sourceDir, f)))
      .update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

function run(argv: readonly string[], signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const [cmd = '', ...args] = argv;
    execFile(
      cmd,
      args,
      {
        timeout: 300_000,
        maxBuffer: 16 * 1024 * 1024,
        ...(signal === undefined ? {} : { signal }),
      },
      (error, stdout, stderr) => {
        if (error === null) resolve(stdout);
        else reject(new Error(`${stderr}${stdout}`.trim().split('\n').slice(-5).join('\n')));
      },
    );
  });
}

/** The path of the job wheel for `version`: the bundled one, else one built from the sources. */
export async function jobWheel(version: string, options: JobWheelOptions = {}): Promise<string> {
  const name = jobWheelName(version);
  const bundled = path.join(options.bundledDir ?? BUNDLED_WHEEL_DIR, name);
  if (await isFile(bundled)) return bundled;
  const source = options.sourceDir ?? JOB_PACKAGE_SOURCE;
  if (!(await isFile(path.join(source, 'pyproject.toml')))) {
    throw new JobWheelError(`The job wheel ${name} is not in ${path.dirname(bundled)}.`, {
      hint: 'Reinstall hpc-jupyter: its package brings the job wheel along.',
    });
  }
  const pyproject = await readFile(path.join(source, 'pyproject.toml'), 'utf8');
  const init = await readFile(path.join(source, 'hpc_jupyter', '__init__.py'), 'utf8').catch(
    () => '',
  );
  const declared =
    /^version\s*=\s*"([^"]+)"/m.exec(pyproject)?.[1] ??
    /^__version__\s*=\s*"([^"]+)"/m.exec(init)?.[1];
  // A version the build computes (`dynamic`) is checked by the wheel's name instead.
  if (declared !== undefined && declared !== version) {
    throw new JobWheelError(
      `templates/python declares version ${declared}, but this hpc-jupyter is ${version}.`,
      {
        hint: 'Keep the job package (templates/python) at the version of packages/core/package.json.',
      },
    );
  }
  const cached = path.join(options.cacheDir ?? defaultCacheDir(), await sourceDigest(source), name);
  if (await isFile(cached)) return cached;
  return buildWheel(source, cached, options);
}

async function buildWheel(
  source: string,
  target: string,
  options: JobWheelOptions,
): Promise<string> {
  const python = options.python ?? process.env.HPC_JUPYTER_PYTHON ?? 'python3';
  const work = await mkdtemp(path.join(tmpdir(), 'hpcj-job-wheel-'));
  try {
    const copy = path.join(work, 'src');
    await mkdir(copy);
    await cp(path.join(source, 'pyproject.toml'), path.join(copy, 'pyproject.toml'));
    await cp(path.join(source, 'hpc_jupyter'), path.join(copy, 'hpc_jupyter'), {
      recursive: true,
      filter: (p) => !p.includes('__pycache__'),
    });
    const out = path.join(work, 'out');
    const script = options.wheelScript ?? WHEEL_SCRIPT;
    const pip = [python, '-m', 'pip', 'wheel', '--no-deps', '--disable-pip-version-check'];
    // The repository's writer first (offline, seconds); then pip with the setuptools already
    // there; then pip with an isolated build, which needs an index.
    const attempts = [
      ...((await isFile(script)) ? [[python, script, path.join(copy, 'pyproject.toml'), out]] : []),
      [...pip, '--no-build-isolation', '--wheel-dir', out, copy],
      [...pip, '--wheel-dir', out, copy],
    ];
    let failure: string | undefined;
    for (const argv of attempts) {
      failure = await run(argv, options.signal).then(
        () => undefined,
        (error: unknown) => (error instanceof Error ? error.message : 'failed'),
      );
      if (failure === undefined) break;
    }
    if (failure !== undefined) {
      throw new JobWheelError(
        `Could not build the job wheel from ${source} with ${python}: ${failure}`,
        {
          hint: 'Install setuptools and wheel for that Python, or set HPC_JUPYTER_PYTHON to one that has them.',
        },
      );
    }
    const built = path.join(out, path.basename(target));
    if (!(await isFile(built))) {
      throw new JobWheelError(`Building the job wheel made no ${path.basename(target)} in ${out}.`);
    }
    await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
    const partial = `${target}.${String(process.pid)}.tmp`;
    await cp(built, partial);
    await rename(partial, target);
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
