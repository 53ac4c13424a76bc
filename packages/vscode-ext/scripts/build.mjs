// Builds what the .vsix ships, into dist/:
//   dist/extension.js    the extension (CommonJS, `vscode` external) with the agent client inside
//   dist/hpc-jupyter.js  the core's `hpc-jupyter` command (agent, kernel launcher) as one file,
//                        run as `<node> dist/hpc-jupyter.js agent` when nothing else is configured
//   dist/runtime/        the files the core reads at run time, in the repository's layout:
//                        packages/core/{package.json,schema/}, templates/, and two-line shims
//                        packages/core/dist/{cli/main.js,kernel/kernel-main.js} that run
//                        dist/hpc-jupyter.js (where the core starts its agent and kernels from)
// The core finds those files relative to its own modules (`new URL('../../schema/...',
// import.meta.url)`). Bundled, every module lives in one file, so each core module's
// `import.meta.url` is rewritten to the URL it would have under dist/runtime/packages/core/,
// and the relative paths keep working unchanged. Native addons that ssh2 only uses when present
// (its crypto binding, cpu-features) are left out; ssh2 then uses its pure-JS code paths. The
// kernel launcher speaks ZeroMQ's protocol itself, so nothing native ships: the .vsix is the same
// on every platform.
// Usage: node scripts/build.mjs [--no-minify] [--quiet]
import { build } from 'esbuild';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.resolve(here, '..');
const dist = path.join(pkgDir, 'dist');
const require = createRequire(import.meta.url);
const coreDir = path.dirname(require.resolve('@hpc-jupyter/core/package.json'));
const repoRoot = path.resolve(coreDir, '..', '..');
const runtimeDir = path.join(dist, 'runtime');
const quiet = process.argv.includes('--quiet');
const minify = !process.argv.includes('--no-minify');

const banner = [
  '"use strict";',
  'const __hpcjCoreUrl = (p) =>',
  '  require("url").pathToFileURL(require("path").join(__dirname, "runtime", "packages", "core", p)).href;',
].join('\n');

/** @type {import('esbuild').Plugin} */
const corePaths = {
  name: 'hpcj-core-paths',
  setup(b) {
    const coreReal = `${coreDir}${path.sep}`;
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(coreReal)) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = path.relative(coreDir, args.path).split(path.sep).join('/');
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
 * here lets the extension's bundle drop what it does not use (SSH, schedulers, the agent server).
 * @type {import('esbuild').Plugin}
 */
const coreWithoutSideEffects = {
  name: 'hpcj-core-side-effects',
  setup(b) {
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'hpcj-resolving' || args.kind === 'entry-point') return undefined;
      if (!args.importer.startsWith(pkgDir) && !args.importer.startsWith(coreDir)) return undefined;
      const result = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'hpcj-resolving',
      });
      if (result.errors.length > 0 || !result.path.startsWith(`${coreDir}${path.sep}`)) {
        return undefined;
      }
      return { ...result, sideEffects: false };
    });
  },
};

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

async function bundle(entry, file, extraPlugins) {
  const result = await build({
    entryPoints: { [file]: entry },
    outdir: dist,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    plugins: [...extraPlugins, corePaths, optionalNative],
    banner: { js: banner },
    // An `import.meta` left anywhere would be empty in CommonJS: fail instead of shipping it.
    logOverride: { 'empty-import-meta': 'error' },
    sourcemap: 'linked',
    sourcesContent: false,
    minify,
    keepNames: true,
    metafile: true,
    logLevel: quiet ? 'error' : 'warning',
    tsconfig: path.join(pkgDir, 'tsconfig.json'),
  });
  return result.metafile;
}

async function copyRuntime() {
  const coreOut = path.join(runtimeDir, 'packages', 'core');
  await mkdir(coreOut, { recursive: true });
  const corePkg = JSON.parse(await readFile(path.join(coreDir, 'package.json'), 'utf8'));
  await writeFile(
    path.join(coreOut, 'package.json'),
    `${JSON.stringify({ name: corePkg.name, version: corePkg.version, license: corePkg.license }, null, 2)}\n`,
  );
  await cp(path.join(coreDir, 'schema'), path.join(coreOut, 'schema'), { recursive: true });
  // The core's own entry points, where it looks for them (connectAgent starts the agent with
  // dist/cli/main.js, kernelspecs run dist/kernel/kernel-main.js): each runs the bundled CLI, which
  // takes the same arguments. argv[1] becomes the bundle, so the kernel launcher's "am I the
  // main module" check does not fire a second time.
  for (const entry of ['dist/cli/main.js', 'dist/kernel/kernel-main.js']) {
    const file = path.join(coreOut, entry);
    const bundle = path.relative(path.dirname(file), path.join(dist, 'hpc-jupyter.js'));
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(
      file,
      [
        '#!/usr/bin/env node',
        '// Runs the bundled hpc-jupyter command; see scripts/build.mjs in hpc-jupyter-vscode.',
        `process.argv[1] = require.resolve(${JSON.stringify(bundle)});`,
        'require(process.argv[1]);',
        '',
      ].join('\n'),
    );
  }
  await cp(path.join(repoRoot, 'templates'), path.join(runtimeDir, 'templates'), {
    recursive: true,
    // Tests and their harness stay in the repository.
    filter: (src) => !/\.(test|testutil)\.ts$|job-harness\.ts$|__fixtures__|__recorded__/.test(src),
  });
}

const started = Date.now();
await rm(dist, { recursive: true, force: true });
const metafiles = await Promise.all([
  bundle(path.join(pkgDir, 'src', 'extension.ts'), 'extension', [coreWithoutSideEffects]),
  bundle(path.join(coreDir, 'dist', 'cli', 'main.js'), 'hpc-jupyter', []),
]);
await copyRuntime();
const outputs = Object.assign({}, ...metafiles.map((m) => m.outputs));
if (!quiet) {
  for (const [file, out] of Object.entries(outputs)) {
    if (file.endsWith('.js')) console.log(`${file}: ${(out.bytes / 1024).toFixed(0)} KiB`);
  }
  console.log(`built in ${Date.now() - started} ms`);
}
