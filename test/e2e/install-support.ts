/**
 * What the install tests share: the artifacts of `npm run dist` (built now when dist/ lacks them
 * or any of their inputs is newer), copied alone into an empty directory outside the repository,
 * and an environment for the commands run from there that names no repository path.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './support.js';

const execFileP = promisify(execFile);
export const DIST_DIR = join(REPO_ROOT, 'dist');
export const VERSION = (
  JSON.parse(readFileSync(join(REPO_ROOT, 'packages/core/package.json'), 'utf8')) as {
    version: string;
  }
).version;

export const ARTIFACTS = {
  jobWheel: `hpc_jupyter_job-${VERSION}-py3-none-any.whl`,
  clientWheel: `hpc_jupyter-${VERSION}-py3-none-any.whl`,
  npmPackage: `hpc-jupyter-cli-${VERSION}.tgz`,
} as const;
export type Artifact = keyof typeof ARTIFACTS;

/** What the artifacts are made from; a file here newer than an artifact makes it stale. */
const INPUTS = [
  'packages/core/src',
  'packages/core/schema',
  'packages/core/package.json',
  'packages/jupyterlab-ext/src',
  'packages/jupyterlab-ext/style',
  'packages/jupyterlab-ext/schema',
  'packages/jupyterlab-ext/package.json',
  'templates',
  'packaging',
  'scripts/dist',
  'scripts/dist-build.mjs',
  'scripts/dist-bundle.mjs',
];

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let max = 0;
  for (const entry of readdirSync(path)) {
    if (entry === '__pycache__' || entry === 'node_modules') continue;
    max = Math.max(max, newest(join(path, entry)));
  }
  return max;
}

/** Runs `npm run dist` unless dist/ holds every artifact, each newer than all of its inputs. */
export async function ensureDist(): Promise<void> {
  const files = Object.values(ARTIFACTS).map((name) => join(DIST_DIR, name));
  const oldest = Math.min(...files.map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
  const inputs = Math.max(...INPUTS.map((p) => newest(join(REPO_ROOT, p))));
  if (oldest > inputs) return;
  const started = Date.now();
  await execFileP('bash', [join(REPO_ROOT, 'scripts', 'dist'), '--quiet'], {
    cwd: REPO_ROOT,
    timeout: 300_000,
    maxBuffer: 16 << 20,
  });
  console.log(`npm run dist: ${String(Date.now() - started)} ms`);
  for (const f of files) {
    if (!existsSync(f)) throw new Error(`npm run dist did not write ${f}`);
  }
}

/** Copies the named artifacts (only those) into `dir`; returns their paths there. */
export function copyArtifacts<K extends Artifact>(
  dir: string,
  names: readonly K[],
): Record<K, string> {
  const out = {} as Record<K, string>;
  for (const name of names) {
    const target = join(dir, ARTIFACTS[name]);
    copyFileSync(join(DIST_DIR, ARTIFACTS[name]), target);
    out[name] = target;
  }
  return out;
}

export function sizeMiB(file: string): string {
  return `${(statSync(file).size / 1024 / 1024).toFixed(2)} MiB`;
}

/**
 * A clean environment for commands of an install: PATH as given, HOME, LANG, and this
 * machine's pip and npm settings (its index, certificates and caches, so that reruns are fast),
 * but nothing that points into the repository.
 */
export function cleanEnv(path: string, home: string): Record<string, string> {
  const env: Record<string, string> = { PATH: path, HOME: home, LANG: 'C.UTF-8' };
  for (const [name, value] of Object.entries(process.env)) {
    if (value === undefined || value.includes(REPO_ROOT)) continue;
    if (/^(PIP_|npm_config_|NPM_CONFIG_|SSL_CERT_|REQUESTS_CA_BUNDLE$)/.test(name)) {
      env[name] = value;
    }
  }
  // HOME moves, the caches do not.
  env['PIP_CACHE_DIR'] ??= join(homedir(), '.cache', 'pip');
  env['npm_config_cache'] ??= join(homedir(), '.npm');
  return env;
}

/** The command line of a process (for "which hpc-jupyter runs this agent"). */
export function cmdlineOf(pid: number): string[] {
  return readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8')
    .split('\0')
    .filter(Boolean);
}
