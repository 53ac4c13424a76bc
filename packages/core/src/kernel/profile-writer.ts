/**
 * Writes a profile into the user's config file (`~/.config/hpc-jupyter/clusters.yaml`, or the
 * file HPC_JUPYTER_CONFIG names; `profiles.yaml` in it when it names a directory), keeping
 * everything else in the file as it was, comments included (yaml's Document API), and replacing
 * the file atomically so a reader never sees half of it. A symbolic link (a config kept with the
 * user's dotfiles) stays one: the file it points to is what gets replaced. Anything but a regular
 * file (HPC_JUPYTER_CONFIG=/dev/null, meaning "no config") is refused, never replaced.
 */
import { mkdir, readFile, realpath, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isMap, parseDocument, type Document } from 'yaml';
import { configOverride, type Environment, userConfigPath } from '../config/paths.js';
import { NAME_PATTERN, type ProfileConfig } from '../config/types.js';
import { HpcError, InvalidInputError } from '../errors.js';
import { writeFileAtomic } from '../util/atomic-file.js';

/** The file a new profile goes into. */
export async function profileFileFor(env: Environment, home = os.homedir()): Promise<string> {
  const override = configOverride(env, home);
  if (override === undefined) return userConfigPath(env, home);
  const info = await stat(override).catch(() => undefined);
  return info?.isDirectory() === true ? path.join(override, 'profiles.yaml') : override;
}

/** A profile name from a display name: "Slurm 4-node Python" -> "slurm-4-node-python". */
export function profileNameFrom(displayName: string): string {
  const slug = displayName
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[-_]+|-+$/g, '')
    .replace(/-{2,}/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
  if (!NAME_PATTERN.test(slug)) {
    throw new InvalidInputError(`Cannot make a profile name from "${displayName}".`, {
      hint: 'Give one as the first argument: lower-case letters, digits, "_" and "-".',
    });
  }
  return slug;
}

/** Adds or replaces `profiles.<name>` in `file`, creating the file if needed; returns the text. */
export async function writeProfile(file: string, profile: ProfileConfig): Promise<string> {
  if (!NAME_PATTERN.test(profile.name)) {
    throw new InvalidInputError(`"${profile.name}" is not a valid profile name.`, {
      hint: 'Use lower-case letters, digits, "_" and "-", starting with a letter or digit.',
    });
  }
  const { target, mode } = await writableTarget(file);
  let text = '';
  try {
    text = await readFile(target, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    throw new HpcError(
      `${file} has YAML errors, so the profile was not added: ${doc.errors[0]?.message ?? ''}`,
      {
        hint: 'Fix the file (`hpc-jupyter clusters` shows where), then try again.',
      },
    );
  }
  setProfile(doc, profile);
  const out = doc.toString();
  await mkdir(path.dirname(target), { recursive: true, mode: 0o700 });
  await writeFileAtomic(target, out, { mode });
  return out;
}

/**
 * The file to replace for `file` (itself, or what its symbolic links lead to; a regular file),
 * and the mode to keep: its own, or 0600 for a new file.
 */
async function writableTarget(file: string): Promise<{ target: string; mode: number }> {
  const target = await realpath(file).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return file;
    throw error;
  });
  const info = await stat(target).catch(() => undefined);
  if (info !== undefined && !info.isFile()) {
    const what = info.isDirectory()
      ? 'a directory'
      : info.isCharacterDevice() || info.isBlockDevice()
        ? 'a device'
        : info.isFIFO()
          ? 'a pipe'
          : 'not a regular file';
    throw new InvalidInputError(
      `The config file ${file} is ${what}, so the profile cannot be written to it.`,
      {
        hint:
          'Point HPC_JUPYTER_CONFIG at a YAML file or a directory (profiles go to profiles.yaml ' +
          'in it), or unset it to use ~/.config/hpc-jupyter/clusters.yaml.',
      },
    );
  }
  return { target, mode: info === undefined ? 0o600 : info.mode & 0o777 };
}

function setProfile(doc: Document, profile: ProfileConfig): void {
  if (doc.contents === null) doc.contents = doc.createNode({});
  if (!isMap(doc.contents)) {
    throw new HpcError('The config file is not a YAML mapping at its top level.');
  }
  const entry: Record<string, unknown> = {
    displayName: profile.displayName,
    cluster: profile.cluster,
    template: profile.template,
  };
  if (profile.params !== undefined && Object.keys(profile.params).length > 0) {
    entry['params'] = { ...profile.params };
  }
  const profiles = doc.get('profiles');
  if (profiles === undefined || profiles === null) {
    doc.set('profiles', doc.createNode({ [profile.name]: entry }));
    return;
  }
  if (!isMap(profiles)) throw new HpcError('"profiles" in the config file is not a mapping.');
  // Replace the entry's value but keep its key node (and any comment on it) where it was.
  const node = doc.createNode(entry);
  const existing = profiles.get(profile.name, true);
  if (isMap(existing) && existing.commentBefore !== undefined)
    node.commentBefore = existing.commentBefore;
  profiles.set(profile.name, node);
}
