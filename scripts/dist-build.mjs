// `npm run dist` after `tsc -b` (scripts/dist): writes what users install, with no checkout,
// into dist/ at the repository's root:
//   hpc_jupyter_job-<v>-py3-none-any.whl  the job side (templates/python: engine start-up, kernel
//                                         clients, magics, the agent route), extras jupyter, dask,
//                                         spark, ipyparallel, mpi, all
//   hpc_jupyter-<v>-py3-none-any.whl      for the Jupyter environment: the prebuilt JupyterLab
//                                         extension as data files (share/jupyter/labextensions/
//                                         @hpc-jupyter/jupyterlab/, with install.json) and the
//                                         `hpc-jupyter` command (packaging/client), pinning the
//                                         job wheel of the same version
//   hpc-jupyter-cli-<v>.tgz               `npm pack` of @hpc-jupyter/cli, the bundled command
// Both the client wheel and the npm package carry the one bundle of scripts/dist-bundle.mjs
// (also the .vsix's), with the job wheel in its runtime tree. The labextension is rebuilt only
// when its inputs are newer than it. Every version must be the core's.
// Usage: node scripts/dist-build.mjs [--quiet]
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import {
  buildCli,
  buildJobWheel,
  CLI_BUNDLE,
  coreVersion,
  REPO_ROOT,
  writeWheel,
} from './dist-bundle.mjs';

const execFileP = promisify(execFile);
const quiet = process.argv.includes('--quiet');
const DIST = path.join(REPO_ROOT, 'dist');
const STAGE = path.join(DIST, '.stage');
const LAB_DIR = path.join(REPO_ROOT, 'packages', 'jupyterlab-ext');
const LAB_OUT = path.join(LAB_DIR, 'labextension');
const EXTENSION_NAME = '@hpc-jupyter/jupyterlab';
const NPM_NAME = '@hpc-jupyter/cli';

const say = (line) => {
  if (!quiet) console.log(line);
};

/** Every artifact has the core's version: package.json files and the Python __version__s. */
async function checkVersions(version) {
  const found = [];
  for (const pkg of ['packages/jupyterlab-ext/package.json', 'packages/vscode-ext/package.json']) {
    found.push([pkg, JSON.parse(await readFile(path.join(REPO_ROOT, pkg), 'utf8')).version]);
  }
  for (const init of [
    'templates/python/hpc_jupyter/__init__.py',
    'packaging/client/hpc_jupyter_app/__init__.py',
  ]) {
    const text = await readFile(path.join(REPO_ROOT, init), 'utf8');
    found.push([init, /^__version__ = "([^"]+)"$/m.exec(text)?.[1]]);
  }
  const wrong = found.filter(([, v]) => v !== version);
  if (wrong.length > 0) {
    throw new Error(
      `packages/core/package.json says version ${version}, but ${wrong
        .map(([file, v]) => `${file} says ${v ?? 'nothing'}`)
        .join(', ')}: make them the same.`,
    );
  }
}

/** The newest modification time of any file under `p` (or of `p`), 0 if it does not exist. */
async function newest(p) {
  let info;
  try {
    info = await stat(p);
  } catch {
    return 0;
  }
  if (!info.isDirectory()) return info.mtimeMs;
  let max = 0;
  for (const entry of await readdir(p)) max = Math.max(max, await newest(path.join(p, entry)));
  return max;
}

async function labextension() {
  const built = await newest(path.join(LAB_OUT, 'package.json'));
  const inputs = Math.max(
    ...(await Promise.all(
      ['lib', 'style', 'schema', 'package.json'].map((p) => newest(path.join(LAB_DIR, p))),
    )),
  );
  if (built > inputs) {
    say(`labextension: up to date (${path.relative(REPO_ROOT, LAB_OUT)})`);
    return;
  }
  const started = Date.now();
  await execFileP(process.execPath, [path.join(LAB_DIR, 'scripts', 'build-labextension.mjs')], {
    cwd: LAB_DIR,
    maxBuffer: 16 << 20,
  });
  say(`labextension: built in ${Date.now() - started} ms`);
}

/** The labextension as the client wheel installs it: the build plus its install.json. */
async function stageLabextension(dir) {
  await cp(LAB_OUT, dir, { recursive: true });
  const installJson = {
    packageManager: 'python',
    packageName: 'hpc-jupyter',
    uninstallInstructions:
      'Use your Python package manager (pip, conda, ...) to uninstall hpc-jupyter.',
  };
  await writeFile(path.join(dir, 'install.json'), `${JSON.stringify(installJson, null, 2)}\n`);
  const pkg = JSON.parse(await readFile(path.join(dir, 'package.json'), 'utf8'));
  if (pkg.name !== EXTENSION_NAME) throw new Error(`${LAB_OUT} is not ${EXTENSION_NAME}`);
}

/** The npm package's directory: the bundle, its runtime tree, a package.json and a readme. */
async function stageNpm(dir, cliDir, version) {
  await cp(cliDir, dir, { recursive: true });
  const core = JSON.parse(
    await readFile(path.join(REPO_ROOT, 'packages/core/package.json'), 'utf8'),
  );
  const manifest = {
    name: NPM_NAME,
    version,
    description: 'The hpc-jupyter command: Jupyter servers, kernels and engines in HPC batch jobs.',
    license: core.license,
    keywords: ['hpc', 'slurm', 'jupyter', 'batch', 'cluster'],
    bin: { 'hpc-jupyter': CLI_BUNDLE },
    files: [CLI_BUNDLE, 'runtime/'],
    engines: { node: '>=20' },
  };
  await writeFile(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await cp(path.join(REPO_ROOT, 'packaging', 'npm', 'README.md'), path.join(dir, 'README.md'));
  await cp(path.join(REPO_ROOT, 'packages', 'vscode-ext', 'LICENSE'), path.join(dir, 'LICENSE'));
}

async function npmPack(dir) {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const { stdout } = await execFileP(
    npm,
    ['pack', '--json', '--ignore-scripts', '--pack-destination', DIST],
    { cwd: dir, maxBuffer: 16 << 20 },
  );
  const [packed] = JSON.parse(stdout);
  return path.join(DIST, packed.filename);
}

async function sizeOf(file) {
  return `${((await stat(file)).size / 1024 / 1024).toFixed(2)} MiB`;
}

const started = Date.now();
const version = await coreVersion();
await checkVersions(version);
await labextension();
await rm(DIST, { recursive: true, force: true });
await mkdir(STAGE, { recursive: true });
try {
  const jobWheel = await buildJobWheel(DIST);
  const cliDir = path.join(STAGE, 'cli');
  await buildCli({ outDir: cliDir, jobWheel, sourcemap: false, quiet });
  const labDir = path.join(STAGE, 'labextension');
  await stageLabextension(labDir);
  const npmDir = path.join(STAGE, 'npm');
  const [clientWheel, tgz] = await Promise.all([
    writeWheel(path.join(REPO_ROOT, 'packaging', 'client', 'pyproject.toml'), DIST, [
      '--version',
      version,
      '--tree',
      `hpc_jupyter_app/cli=${cliDir}`,
      '--data',
      `share/jupyter/labextensions/${EXTENSION_NAME}=${labDir}`,
    ]),
    stageNpm(npmDir, cliDir, version).then(() => npmPack(npmDir)),
  ]);
  for (const file of [jobWheel, clientWheel, tgz]) {
    say(`${path.relative(REPO_ROOT, file)}: ${await sizeOf(file)}`);
  }
} finally {
  await rm(STAGE, { recursive: true, force: true });
}
say(`dist: built in ${Date.now() - started} ms`);
