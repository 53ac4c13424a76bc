import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AbortedError } from '../errors.js';
import { loadConfig } from './load.js';
import { expandHome, tildify, userConfigPath } from './paths.js';
import { BUILTIN_SOURCE } from './types.js';

let root: string;
let home: string;
let siteDir: string;
let userFile: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-config-'));
  home = path.join(root, 'home');
  siteDir = path.join(root, 'etc', 'clusters.d');
  userFile = path.join(home, '.config', 'hpc-jupyter', 'clusters.yaml');
  await mkdir(siteDir, { recursive: true });
  await mkdir(path.dirname(userFile), { recursive: true });
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function load(env: Record<string, string> = {}) {
  return loadConfig({ env, homedir: home, siteDir });
}

describe('loadConfig', () => {
  it('has the built-in local cluster and nothing else when no file exists', async () => {
    await rm(siteDir, { recursive: true });
    const config = await load();
    expect(config.problems).toEqual([]);
    expect(config.sources).toEqual([]);
    expect([...config.clusters.keys()]).toEqual(['local']);
    expect(config.clusters.get('local')).toMatchObject({
      scheduler: 'local',
      source: BUILTIN_SOURCE,
    });
    expect(config.clusters.get('local')?.ssh).toBeUndefined();
  });

  it('merges site files in name order, then the user file, replacing entries whole', async () => {
    await writeFile(
      path.join(siteDir, '20-lab.yaml'),
      'clusters:\n  lab:\n    scheduler: slurm\n    title: from 20\n    defaults: { partition: big }\n',
    );
    await writeFile(
      path.join(siteDir, '10-lab.yaml'),
      'clusters:\n  lab:\n    scheduler: pbs\n    title: from 10\n  other:\n    scheduler: lsf\n',
    );
    await writeFile(path.join(siteDir, 'README'), 'not yaml: [');
    await writeFile(userFile, 'clusters:\n  lab:\n    scheduler: slurm\n    title: mine\n');
    const config = await load();
    expect(config.problems).toEqual([]);
    expect(config.sources).toEqual([
      path.join(siteDir, '10-lab.yaml'),
      path.join(siteDir, '20-lab.yaml'),
      userFile,
    ]);
    // The user's `lab` replaces the site's as a whole: no `defaults` inherited from 20-lab.yaml.
    expect(config.clusters.get('lab')).toEqual({
      name: 'lab',
      scheduler: 'slurm',
      title: 'mine',
      source: userFile,
      line: 2,
    });
    expect(config.clusters.get('other')?.source).toBe(path.join(siteDir, '10-lab.yaml'));
    expect(config.clusters.has('local')).toBe(true);
  });

  it('uses XDG_CONFIG_HOME for the user file', async () => {
    const xdg = path.join(root, 'xdg');
    await mkdir(path.join(xdg, 'hpc-jupyter'), { recursive: true });
    await writeFile(
      path.join(xdg, 'hpc-jupyter', 'clusters.yaml'),
      'clusters:\n  x: { scheduler: slurm }\n',
    );
    await writeFile(userFile, 'clusters:\n  y: { scheduler: slurm }\n');
    const config = await load({ XDG_CONFIG_HOME: xdg });
    expect(config.clusters.has('x')).toBe(true);
    expect(config.clusters.has('y')).toBe(false);
    expect(userConfigPath({ XDG_CONFIG_HOME: 'relative' }, home)).toBe(userFile);
  });

  it('lets HPC_JUPYTER_CONFIG name a file that replaces both sources', async () => {
    await writeFile(path.join(siteDir, 'a.yaml'), 'clusters:\n  site: { scheduler: slurm }\n');
    await writeFile(userFile, 'clusters:\n  user: { scheduler: slurm }\n');
    const file = path.join(root, 'only.yaml');
    await writeFile(file, 'clusters:\n  only: { scheduler: slurm }\n');
    const config = await load({ HPC_JUPYTER_CONFIG: file });
    expect([...config.clusters.keys()].sort()).toEqual(['local', 'only']);
    expect(config.sources).toEqual([file]);
  });

  it('lets HPC_JUPYTER_CONFIG name a directory of YAML files', async () => {
    const dir = path.join(root, 'confdir');
    await mkdir(dir);
    await writeFile(
      path.join(dir, 'b.yaml'),
      'clusters:\n  c: { scheduler: slurm, title: from b }\n',
    );
    await writeFile(
      path.join(dir, 'a.yml'),
      'clusters:\n  c: { scheduler: slurm, title: from a }\n',
    );
    await writeFile(path.join(dir, 'notes.txt'), 'ignored');
    await writeFile(userFile, 'clusters:\n  user: { scheduler: slurm }\n');
    const config = await load({ HPC_JUPYTER_CONFIG: dir });
    expect(config.clusters.get('c')?.title).toBe('from b');
    expect(config.clusters.has('user')).toBe(false);
  });

  it('reports an HPC_JUPYTER_CONFIG that does not exist', async () => {
    const config = await load({ HPC_JUPYTER_CONFIG: path.join(root, 'missing.yaml') });
    expect(config.problems).toHaveLength(1);
    expect(config.problems[0]?.message).toContain('HPC_JUPYTER_CONFIG names');
    expect(config.problems[0]?.message).toContain('does not exist');
    expect([...config.clusters.keys()]).toEqual(['local']);
  });

  it('lets a config replace the built-in local cluster', async () => {
    await writeFile(userFile, 'clusters:\n  local:\n    scheduler: local\n    title: Mine\n');
    const config = await load();
    expect(config.clusters.get('local')).toMatchObject({ title: 'Mine', source: userFile });
  });

  it('keeps a lower definition when the higher one is invalid', async () => {
    await writeFile(path.join(siteDir, 'lab.yaml'), 'clusters:\n  lab: { scheduler: slurm }\n');
    await writeFile(userFile, 'clusters:\n  lab: { scheduler: slrum }\n');
    const config = await load();
    expect(config.clusters.get('lab')?.source).toBe(path.join(siteDir, 'lab.yaml'));
    expect(config.problems.map((p) => p.keyPath)).toEqual(['clusters.lab.scheduler']);
  });

  it('drops profiles that name an unknown cluster, at the line of `cluster`', async () => {
    await writeFile(
      userFile,
      [
        'clusters:',
        '  lab: { scheduler: slurm }',
        '  broken: { scheduler: nope }',
        'profiles:',
        '  good: { displayName: Good, cluster: lab, template: jupyter }',
        '  onlocal: { displayName: Local, cluster: local, template: jupyter }',
        '  typo:',
        '    displayName: Typo',
        '    cluster: labb',
        '    template: jupyter',
        '  onbroken: { displayName: B, cluster: broken, template: jupyter }',
        '',
      ].join('\n'),
    );
    const config = await load();
    expect([...config.profiles.keys()].sort()).toEqual(['good', 'onlocal']);
    const messages = config.problems.map((p) => p.message);
    expect(messages).toContain(
      "~/.config/hpc-jupyter/clusters.yaml:9: profiles.typo.cluster names cluster 'labb', which is not defined in any config file",
    );
    expect(messages).toContain(
      "~/.config/hpc-jupyter/clusters.yaml:11: profiles.onbroken.cluster names cluster 'broken', which has errors (listed separately)",
    );
    expect(config.problems.find((p) => p.keyPath === 'profiles.typo.cluster')?.hint).toContain(
      'lab',
    );
  });

  it('resolves profile clusters across files', async () => {
    await writeFile(path.join(siteDir, 'lab.yaml'), 'clusters:\n  lab: { scheduler: slurm }\n');
    await writeFile(
      userFile,
      'profiles:\n  p: { displayName: P, cluster: lab, template: spark, params: { nodes: 4 } }\n',
    );
    const config = await load();
    expect(config.problems).toEqual([]);
    expect(config.profiles.get('p')).toMatchObject({ cluster: 'lab', params: { nodes: 4 } });
  });

  it('lists a file that does not parse and keeps the other files', async () => {
    await writeFile(path.join(siteDir, 'a.yaml'), 'clusters:\n  a: { scheduler: slurm\n');
    await writeFile(path.join(siteDir, 'b.yaml'), 'clusters:\n  b: { scheduler: slurm }\n');
    const config = await load();
    expect(config.clusters.has('a')).toBe(false);
    expect(config.clusters.has('b')).toBe(true);
    expect(config.problems).toHaveLength(1);
    expect(config.problems[0]?.file).toBe(path.join(siteDir, 'a.yaml'));
    expect(config.problems[0]?.message).toContain('YAML syntax error');
  });

  it.skipIf(process.getuid?.() === 0)('lists an unreadable file as a problem', async () => {
    await writeFile(userFile, 'clusters: {}\n');
    await chmod(userFile, 0o000);
    const config = await load();
    expect(config.problems[0]?.message).toContain('permission denied');
  });

  it('lists a config path that is a directory as a problem', async () => {
    await rm(path.dirname(userFile), { recursive: true });
    await mkdir(userFile, { recursive: true });
    const config = await load();
    expect(config.problems).toHaveLength(1);
    expect(config.problems[0]?.message).toBe(
      '~/.config/hpc-jupyter/clusters.yaml: cannot read config file: is a directory, not a file',
    );
  });

  it('rejects with AbortedError when cancelled', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(
      loadConfig({ env: {}, homedir: home, siteDir, signal: controller.signal }),
    ).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('paths', () => {
  it('expands only our own ~', () => {
    expect(expandHome('~', '/home/ada')).toBe('/home/ada');
    expect(expandHome('~/.ssh/id', '/home/ada')).toBe('/home/ada/.ssh/id');
    expect(expandHome('~bob/.ssh/id', '/home/ada')).toBe('~bob/.ssh/id');
    expect(expandHome('/etc/ssh', '/home/ada')).toBe('/etc/ssh');
  });

  it('shortens paths under home for messages', () => {
    expect(tildify('/home/ada/.config/x', '/home/ada')).toBe('~/.config/x');
    expect(tildify('/home/adam/x', '/home/ada')).toBe('/home/adam/x');
    expect(tildify('/etc/x', '/')).toBe('/etc/x');
  });
});
