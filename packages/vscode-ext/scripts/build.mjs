// Builds what the .vsix ships, into dist/:
//   dist/extension.js    the extension (CommonJS, `vscode` external) with the agent client inside
//   dist/hpc-jupyter.js  the core's `hpc-jupyter` command (agent, kernel launcher) as one file,
//                        run as `<node> dist/hpc-jupyter.js agent` when nothing else is configured
//   dist/runtime/        the files the core reads at run time (templates, schema, the job wheel)
// The command and its runtime tree are made by the repository's one bundle builder,
// scripts/dist-bundle.mjs, which also makes them for the `hpc-jupyter` wheel and the npm package
// (`npm run dist`); the extension is bundled with the same core path rewriting, so the core
// modules inside it find dist/runtime/ too.
// Usage: node scripts/build.mjs [--no-minify] [--quiet]
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildCli, bundle, coreWithoutSideEffects } from '../../../scripts/dist-bundle.mjs';

const pkgDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(pkgDir, 'dist');
const quiet = process.argv.includes('--quiet');
const minify = !process.argv.includes('--no-minify');

const started = Date.now();
await rm(dist, { recursive: true, force: true });
const metafiles = await Promise.all([
  bundle({
    entry: path.join(pkgDir, 'src', 'extension.ts'),
    name: 'extension',
    outDir: dist,
    external: ['vscode'],
    plugins: [coreWithoutSideEffects(pkgDir)],
    tsconfig: path.join(pkgDir, 'tsconfig.json'),
    minify,
    quiet,
  }),
  buildCli({ outDir: dist, minify, quiet }),
]);
const outputs = Object.assign({}, ...metafiles.map((m) => m.outputs));
if (!quiet) {
  for (const [file, out] of Object.entries(outputs)) {
    if (file.endsWith('.js')) console.log(`${file}: ${(out.bytes / 1024).toFixed(0)} KiB`);
  }
  console.log(`built in ${Date.now() - started} ms`);
}
