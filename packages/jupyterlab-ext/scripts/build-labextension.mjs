// Builds the prebuilt JupyterLab extension into labextension/ with @jupyterlab/builder, against
// the JupyterLab that will load it (its staging directory pins the shared packages' versions).
// Run after `tsc -b`. The Python used is HPC_JUPYTER_PYTHON, else the project's venv, else python3.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const venv = process.env.HPC_JUPYTER_VENV ?? '/opt/hpc-jupyter/venv';
const candidates = [process.env.HPC_JUPYTER_PYTHON, path.join(venv, 'bin', 'python'), 'python3'];
let corePath;
for (const python of candidates) {
  if (python === undefined || (python.includes('/') && !existsSync(python))) continue;
  try {
    const out = execFileSync(
      python,
      [
        '-c',
        'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))',
      ],
      { encoding: 'utf8' },
    ).trim();
    if (existsSync(out)) {
      corePath = out;
      break;
    }
  } catch {
    // Next candidate.
  }
}
const builder = createRequire(import.meta.url).resolve(
  '@jupyterlab/builder/lib/build-labextension.js',
);
const args = [builder, ...(corePath === undefined ? [] : ['--core-path', corePath]), here];
execFileSync(process.execPath, args, { stdio: 'inherit', cwd: here });
