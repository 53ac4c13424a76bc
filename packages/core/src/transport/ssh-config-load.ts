/**
 * Reads the user's and the system's ssh_config into one `ssh-config` document, expanding
 * `Include` (which the ssh-config package does not) so that configs split into ~/.ssh/config.d/
 * are honoured. The user's file comes first: in ssh_config the first value obtained wins.
 */

import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join } from 'node:path';

import SSHConfig from 'ssh-config';

import { ConfigError, throwIfAborted } from '../errors.js';
import { globMatch } from './known-hosts-parse.js';

const MAX_INCLUDE_DEPTH = 16;
const SECTION = /^\s*(Host|Match)\b/i;
const INCLUDE = /^\s*Include(?:\s*=\s*|\s+)(.*)$/i;

export interface SshConfigSources {
  /** ~/.ssh/config or null. */
  readonly userFile: string | null;
  /** /etc/ssh/ssh_config or null. */
  readonly systemFile: string | null;
  readonly homeDir: string;
}

/** The parsed configuration, plus the files it came from for messages. */
export interface LoadedSshConfig {
  readonly config: SSHConfig;
  readonly files: readonly string[];
}

function expandTilde(path: string, homeDir: string): string {
  if (path === '~') return homeDir;
  if (path.startsWith('~/')) return join(homeDir, path.slice(2));
  return path;
}

/** Splits an Include argument list: whitespace-separated, double quotes group. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? '');
  return out.filter((s) => s !== '' && !s.startsWith('#'));
}

/** Expands wildcards in the last path component only, which covers `config.d/*` layouts. */
async function expandGlob(path: string): Promise<string[]> {
  const name = basename(path);
  if (!/[*?]/.test(name)) return [path];
  const dir = dirname(path);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && globMatch(name, n))
    .sort()
    .map((n) => join(dir, n));
}

async function readExpanded(
  file: string,
  includeBase: string,
  homeDir: string,
  depth: number,
  seen: string[],
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  throwIfAborted(signal);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`Cannot read ssh config ${file}.`, file, undefined, undefined, {
      cause: err,
    });
  }
  seen.push(file);
  const out: string[] = [];
  // Inlining an included file would let its last Host block swallow the lines after the Include;
  // re-stating the enclosing section header afterwards keeps them where OpenSSH applies them.
  let section = 'Match all';
  for (const line of text.split(/\r?\n/)) {
    const include = INCLUDE.exec(line);
    if (include === null) {
      if (SECTION.test(line)) section = line.trim();
      out.push(line);
      continue;
    }
    if (depth >= MAX_INCLUDE_DEPTH) {
      throw new ConfigError(
        `ssh config Include nested more than ${MAX_INCLUDE_DEPTH} deep.`,
        file,
        undefined,
        'Include',
      );
    }
    for (const arg of splitArgs(include[1] ?? '')) {
      const expanded = expandTilde(arg, homeDir);
      const path = isAbsolute(expanded) ? expanded : join(includeBase, expanded);
      for (const target of await expandGlob(path)) {
        const inner = await readExpanded(target, includeBase, homeDir, depth + 1, seen, signal);
        if (inner !== undefined) out.push(inner);
      }
    }
    out.push(section);
  }
  return out.join('\n');
}

/** Loads user then system config; missing files are simply absent. */
export async function loadSshConfig(
  sources: SshConfigSources,
  signal?: AbortSignal,
): Promise<LoadedSshConfig> {
  const parts: string[] = [];
  const files: string[] = [];
  if (sources.userFile !== null) {
    const base = join(sources.homeDir, '.ssh');
    const text = await readExpanded(sources.userFile, base, sources.homeDir, 0, files, signal);
    if (text !== undefined) parts.push(text);
  }
  if (sources.systemFile !== null) {
    const base = dirname(sources.systemFile);
    const text = await readExpanded(sources.systemFile, base, sources.homeDir, 0, files, signal);
    // `Match all` ends the user's last Host block so the system file's top lines apply to all.
    if (text !== undefined) parts.push(`Match all\n${text}`);
  }
  return { config: parseSshConfig(parts.join('\n'), files[0] ?? '(none)'), files };
}

/** Parses ssh_config text, turning parser failures into a ConfigError naming the file. */
export function parseSshConfig(text: string, file: string): SSHConfig {
  try {
    return SSHConfig.parse(text);
  } catch (err) {
    throw new ConfigError(`Cannot parse ssh config ${file}.`, file, undefined, undefined, {
      cause: err,
      hint: 'Check the file with `ssh -G <host>`.',
    });
  }
}
