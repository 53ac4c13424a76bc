// Profiles written into a config file the user also edits by hand: comments and everything else
// stay, the entry is added or replaced, and the result still loads as valid configuration.
import { execFileSync } from 'node:child_process';
import {
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../config/parse.js';
import { profileFileFor, profileNameFrom, writeProfile } from './profile-writer.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'hpcj-profiles-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const ORIGINAL = `# Our clusters. Keep this comment.
clusters:
  lab:
    scheduler: local # a comment on a value
profiles:
  # the old one
  old: { displayName: Old, cluster: lab, template: kernel }
`;

describe('writeProfile', () => {
  it('adds a profile and keeps every comment and entry', async () => {
    const file = path.join(dir, 'clusters.yaml');
    writeFileSync(file, ORIGINAL, { mode: 0o640 });
    await writeProfile(file, {
      name: 'slurm-4',
      displayName: 'Slurm 4-node Python',
      cluster: 'lab',
      template: 'kernel',
      params: { nodes: 4, hours: 1.5 },
    });
    const text = readFileSync(file, 'utf8');
    for (const kept of [
      '# Our clusters. Keep this comment.',
      '# a comment on a value',
      '# the old one',
      'old: { displayName: Old',
    ]) {
      expect(text).toContain(kept);
    }
    expect(statSync(file).mode & 0o777).toBe(0o640);
    const parsed = parseConfigText(text, file);
    expect(parsed.problems).toEqual([]);
    expect(parsed.profiles.get('slurm-4')).toMatchObject({
      displayName: 'Slurm 4-node Python',
      cluster: 'lab',
      template: 'kernel',
      params: { nodes: 4, hours: 1.5 },
    });
  });

  it('replaces a profile of the same name, and creates a missing file privately', async () => {
    const file = path.join(dir, 'sub', 'clusters.yaml');
    await writeProfile(file, {
      name: 'p',
      displayName: 'One',
      cluster: 'local',
      template: 'kernel',
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    await writeProfile(file, {
      name: 'p',
      displayName: 'Two',
      cluster: 'local',
      template: 'kernel',
    });
    const parsed = parseConfigText(readFileSync(file, 'utf8'), file);
    expect([...parsed.profiles.keys()]).toEqual(['p']);
    expect(parsed.profiles.get('p')?.displayName).toBe('Two');
  });

  it('refuses a broken file and a bad name, and leaves the file alone', async () => {
    const file = path.join(dir, 'clusters.yaml');
    writeFileSync(file, 'clusters: [unclosed\n');
    await expect(
      writeProfile(file, { name: 'p', displayName: 'P', cluster: 'local', template: 'kernel' }),
    ).rejects.toThrow(/YAML errors/);
    expect(readFileSync(file, 'utf8')).toBe('clusters: [unclosed\n');
    await expect(
      writeProfile(path.join(dir, 'x.yaml'), {
        name: 'Bad Name',
        displayName: 'P',
        cluster: 'local',
        template: 'kernel',
      }),
    ).rejects.toThrow(/not a valid profile name/);
  });

  it('writes through a symbolic link, which stays a link to the updated file', async () => {
    const real = path.join(dir, 'dotfiles-clusters.yaml');
    writeFileSync(real, ORIGINAL, { mode: 0o640 });
    const link = path.join(dir, 'clusters.yaml');
    symlinkSync(real, link);
    await writeProfile(link, { name: 'p', displayName: 'P', cluster: 'lab', template: 'kernel' });
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real, 'utf8')).toContain('p:\n    displayName: P');
    expect(statSync(real).mode & 0o777).toBe(0o640);
  });

  it('refuses what is not a regular file (as /dev/null is), and leaves it as it was', async () => {
    // HPC_JUPYTER_CONFIG=/dev/null means "no config": replacing it by rename would put a
    // regular file where the device was. A pipe stands in for the device here.
    const pipe = path.join(dir, 'config-pipe');
    execFileSync('mkfifo', [pipe]);
    await expect(
      writeProfile(pipe, { name: 'p', displayName: 'P', cluster: 'local', template: 'kernel' }),
    ).rejects.toThrow(/config-pipe is a pipe, so the profile cannot be written to it/);
    expect(statSync(pipe).isFIFO()).toBe(true);
  });
});

describe('where profiles go and what they are called', () => {
  it('uses the user file, the HPC_JUPYTER_CONFIG file, or profiles.yaml in its directory', async () => {
    expect(await profileFileFor({}, '/home/ada')).toBe(
      '/home/ada/.config/hpc-jupyter/clusters.yaml',
    );
    expect(await profileFileFor({ XDG_CONFIG_HOME: '/x' }, '/home/ada')).toBe(
      '/x/hpc-jupyter/clusters.yaml',
    );
    const file = path.join(dir, 'c.yaml');
    writeFileSync(file, '');
    expect(await profileFileFor({ HPC_JUPYTER_CONFIG: file }, '/home/ada')).toBe(file);
    expect(await profileFileFor({ HPC_JUPYTER_CONFIG: dir }, '/home/ada')).toBe(
      path.join(dir, 'profiles.yaml'),
    );
  });

  it('makes a profile name from a display name', () => {
    expect(profileNameFrom('Slurm 4-node Python')).toBe('slurm-4-node-python');
    expect(profileNameFrom('  GPU (A100) — 2 nodes! ')).toBe('gpu-a100-2-nodes');
    expect(() => profileNameFrom('!!!')).toThrow(/Cannot make a profile name/);
  });
});
