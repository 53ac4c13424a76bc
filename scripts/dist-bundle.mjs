// The one bundle builder of hpc-jupyter's installable artifacts: the .vsix
// (packages/vscode-ext/scripts/build.mjs), the `hpc-jupyter` wheel and the npm package
// (scripts/dist-build.mjs) all ship the core's command the same way, made here:
//   <out>/hpc-jupyter.js  the core's `hpc-jupyter` command (agent, kernel launcher) as one file,
//                         run as `<node> hpc-jupyter.js ARGS`
//   <out>/runtime/        the files the core reads at run time, in the repository's layout:
//                         packages/core/{package.json,schema/,job-wheel/*.whl}, templates/, and
//                         two-line shims packages/core/dist/{cli/main.js,kernel/kernel-main.js}
//                         that run hpc-jupyter.js (where the core starts its agent and kernels
//                         from)
// The core finds those files relative to its own modules (`new URL('../../schema/...',
// import.meta.url)`). Bundled, every module lives in one file, so each core module's
// `import.meta.url` is rewritten to the URL it would have under runtime/packages/core/, and the
// relative paths keep working unchanged. Native addons that ssh2 only uses when present (its
// crypto binding, cpu-features) are left out; ssh2 then uses its pure-JS code paths. The kernel
// launcher speaks ZeroMQ's protocol itself, so nothing native ships: the bundle is the same on
// every platform. The job wheel (hpc-jupyter-job, templates/python) is what `hpc-jupyter setup`
// installs on a cluster; it is written by packaging/wheel.py.
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const execFileP = promisify(execFile);
const require = createRequire(import.meta.url);
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CORE_DIR = path.dirname(require.resolve('@hpc-jupyter/core/package.json'));
/** The bundled command's file name, beside its runtime/ directory. */
export const CLI_BUNDLE = 'hpc-jupyter.js';

const banner = [
  '"use strict";',
  'const __hpcjCoreUrl = (p) =>',
  '  require("url").pathToFileURL(require("path").join(__dirname, "runtime", "packages", "core", p)).href;',
].join('\n');

/** @type {import('esbuild').Plugin} */
const corePaths = {
  name: 'hpcj-core-paths',
  setup(b) {
    const coreReal = `${CORE_DIR}${path.sep}`;
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(coreReal)) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = path.relative(CORE_DIR, args.path).split(path.sep).join('/');
      return {
        contents: text.replaceAll('import.meta.url', `__hpcjCoreUrl(${JSON.stringify(rel)})`),
        loader: 'js',
      };
    });
  },
};

/**
 * The core's modules have no import-time side effects that matter (none is imported for its
 * effects alone), but esbuild cannot know that, as its package.json does not say so. Saying it
 * lets a bundle that uses a part of the core (the VS Code extension) drop what it does not use
 * (SSH, schedulers, the agent server). `importerDir`: only imports from there and the core.
 * @param {string} importerDir
 * @returns {import('esbuild').Plugin}
 */
export function coreWithoutSideEffects(importerDir) {
  return {
    name: 'hpcj-core-side-effects',
    setup(b) {
      b.onResolve({ filter: /.*/ }, async (args) => {
        if (args.pluginData === 'hpcj-resolving' || args.kind === 'entry-point') return undefined;
        if (!args.importer.startsWith(importerDir) && !args.importer.startsWith(CORE_DIR)) {
          return undefined;
        }
        const result = await b.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: 'hpcj-resolving',
        });
        if (result.errors.length > 0 || !result.path.startsWith(`${CORE_DIR}${path.sep}`)) {
          return undefined;
        }
        return { ...result, sideEffects: false };
      });
    },
  };
}

/** @type {import('esbuild').Plugin} */
const optionalNative = {
  name: 'hpcj-optional-native',
  setup(b) {
    b.onResolve({ filter: /(\.node$|^cpu-features$)/ }, (args) => ({
      path: args.path,
      namespace: 'optional-native',
    }));
    b.onLoad({ filter: /.*/, namespace: 'optional-native' }, (args) => ({
      contents: `throw new Error(${JSON.stringify(`${args.path} is not part of the bundle`)});`,
      loader: 'js',
    }));
  },
};

/**
 * One CommonJS bundle for Node 20 with the core's paths rewritten: `<outDir>/<name>.js`.
 * @param {{ entry: string, name: string, outDir: string, plugins?: import('esbuild').Plugin[],
 *   external?: string[], minify?: boolean, sourcemap?: boolean, quiet?: boolean,
 *   tsconfig?: string }} options
 * @returns {Promise<import('esbuild').Metafile>}
 */
export async function bundle(options) {
  const result = await build({
    entryPoints: { [options.name]: options.entry },
    outdir: options.outDir,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: options.external ?? [],
    plugins: [...(options.plugins ?? []), corePaths, optionalNative],
    banner: { js: banner },
    // An `import.meta` left anywhere would be empty in CommonJS: fail instead of shipping it.
    logOverride: { 'empty-import-meta': 'error' },
    sourcemap: options.sourcemap === false ? false : 'linked',
    sourcesContent: false,
    minify: options.minify ?? true,
    keepNames: true,
    metafile: true,
    logLevel: options.quiet === true ? 'error' : 'warning',
    ...(options.tsconfig === undefined ? {} : { tsconfig: options.tsconfig }),
  });
  return result.metafile;
}

/** The core's version (packages/core/package.json), which every artifact carries. */
export async function coreVersion() {
  return JSON.parse(await readFile(path.join(CORE_DIR, 'package.json'), 'utf8')).version;
}

/** A Python that can run packaging/wheel.py: $HPC_JUPYTER_PYTHON, else python3. */
function python() {
  const given = process.env.HPC_JUPYTER_PYTHON;
  return given !== undefined && given !== '' ? given : 'python3';
}

/**
 * Runs packaging/wheel.py: `pyproject` to a wheel in `outDir`, with `args` (--tree, --data,
 * --version); returns the wheel's path.
 * @param {string} pyproject
 * @param {string} outDir
 * @param {string[]} [args]
 */
export async function writeWheel(pyproject, outDir, args = []) {
  const script = path.join(REPO_ROOT, 'packaging', 'wheel.py');
  const license = path.join(REPO_ROOT, 'packages', 'vscode-ext', 'LICENSE');
  try {
    const { stdout } = await execFileP(
      python(),
      [script, pyproject, outDir, '--license-file', license, ...args],
      { maxBuffer: 1 << 20 },
    );
    return stdout.trim();
  } catch (error) {
    const e = /** @type {{ stderr?: string, message: string }} */ (error);
    throw new Error(`${script} failed for ${pyproject}: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** The job wheel (templates/python) of the core's version, in `outDir`; returns its path. */
export async function buildJobWheel(outDir) {
  const version = await coreVersion();
  return writeWheel(path.join(REPO_ROOT, 'templates', 'python', 'pyproject.toml'), outDir, [
    '--version',
    version,
  ]);
}

/**
 * The runtime files of a bundled command at `<outDir>/hpc-jupyter.js`, into `<outDir>/runtime`.
 * @param {string} outDir
 * @param {string} jobWheel
 */
async function copyRuntime(outDir, jobWheel) {
  const runtimeDir = path.join(outDir, 'runtime');
  const coreOut = path.join(runtimeDir, 'packages', 'core');
  await mkdir(coreOut, { recursive: true });
  const corePkg = JSON.parse(await readFile(path.join(CORE_DIR, 'package.json'), 'utf8'));
  await writeFile(
    path.join(coreOut, 'package.json'),
    `${JSON.stringify({ name: corePkg.name, version: corePkg.version, license: corePkg.license }, null, 2)}\n`,
  );
  await cp(path.join(CORE_DIR, 'schema'), path.join(coreOut, 'schema'), { recursive: true });
  // Where `hpc-jupyter setup` finds the wheel it uploads to a cluster (packages/core/job-wheel/).
  await mkdir(path.join(coreOut, 'job-wheel'));
  await cp(jobWheel, path.join(coreOut, 'job-wheel', path.basename(jobWheel)));
  // The core's own entry points, where it looks for them (connectAgent starts the agent with
  // dist/cli/main.js, kernelspecs run dist/kernel/kernel-main.js): each runs the bundled CLI, which
  // takes the same arguments. argv[1] becomes the bundle, so the kernel launcher's "am I the
  // main module" check does not fire a second time.
  for (const entry of ['dist/cli/main.js', 'dist/kernel/kernel-main.js']) {
    const file = path.join(coreOut, entry);
    const target = path.relative(path.dirname(file), path.join(outDir, CLI_BUNDLE));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(
      file,
      [
        '#!/usr/bin/env node',
        '// Runs the bundled hpc-jupyter command; see scripts/dist-bundle.mjs in hpc-jupyter.',
        `process.argv[1] = require.resolve(${JSON.stringify(target)});`,
        'require(process.argv[1]);',
        '',
      ].join('\n'),
    );
  }
  await cp(path.join(REPO_ROOT, 'templates'), path.join(runtimeDir, 'templates'), {
    recursive: true,
    // Tests, their harness and Python's byte code stay in the repository.
    filter: (src) =>
      !/\.(test|testutil)\.ts$|job-harness\.ts$|__fixtures__|__recorded__|__pycache__|\.pyc$/.test(
        src,
      ),
  });
}

/**
 * The bundled command and its runtime tree into `outDir` (which should be empty). The job wheel
 * is `jobWheel` if given, else built now.
 * @param {{ outDir: string, jobWheel?: string, minify?: boolean, sourcemap?: boolean,
 *   quiet?: boolean }} options
 * @returns {Promise<import('esbuild').Metafile>}
 */
export async function buildCli(options) {
  const { outDir } = options;
  await mkdir(outDir, { recursive: true });
  let jobWheel = options.jobWheel;
  let scratch;
  if (jobWheel === undefined) {
    scratch = await mkdtemp(path.join(os.tmpdir(), 'hpcj-job-wheel-'));
  }
  try {
    const [metafile, built] = await Promise.all([
      bundle({
        entry: path.join(CORE_DIR, 'dist', 'cli', 'main.js'),
        name: path.basename(CLI_BUNDLE, '.js'),
        outDir,
        ...(options.minify === undefined ? {} : { minify: options.minify }),
        ...(options.sourcemap === undefined ? {} : { sourcemap: options.sourcemap }),
        ...(options.quiet === undefined ? {} : { quiet: options.quiet }),
      }),
      jobWheel === undefined ? buildJobWheel(/** @type {string} */ (scratch)) : jobWheel,
    ]);
    jobWheel = built;
    await copyRuntime(outDir, jobWheel);
    return metafile;
  } finally {
    if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  }
}
