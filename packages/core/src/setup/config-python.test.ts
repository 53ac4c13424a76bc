/** Setting a cluster's python in the user's config file: comments kept, 0600, atomic, idempotent. */
import { mkdtempSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUILTIN_LOCAL_CLUSTER, loadConfig } from '../config/load.js';
import type { LoadedCluster } from '../config/types.js';
import { configFileFor, setClusterPython } from './config-python.js';

const USER_FILE = `# my clusters
clusters:
  hpc:
    title: My HPC # the big one
    scheduler: slurm
    ssh: { host: login.example.edu }
    python: /apps/python3 # the site's
profiles:
  p1: { displayName: P1, cluster: hpc, template: kernel }
`;

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'hpcj-setup-config-'));
}

async function clusterIn(file: string, name: string): Promise<LoadedCluster> {
  const config = await loadConfig({ env: { HPC_JUPYTER_CONFIG: file }, homedir: '/nonexistent' });
  const cluster = config.clusters.get(name);
  if (cluster === undefined) throw new Error(`no ${name} in ${file}`);
  return cluster;
}

describe('setClusterPython', () => {
  it('changes only python, keeps the comments, writes 0600; a second time changes nothing', async () => {
    const file = path.join(tmp(), 'clusters.yaml');
    writeFileSync(file, USER_FILE, { mode: 0o644 });
    const cluster = await clusterIn(file, 'hpc');
    const change = await setClusterPython(file, cluster, '/home/a/venv/bin/python', '/nonexistent');
    expect(change).toMatchObject({
      changed: true,
      before: '/apps/python3',
      after: '/home/a/venv/bin/python',
    });
    const text = readFileSync(file, 'utf8');
    expect(text).toBe(
      USER_FILE.replace('/apps/python3 # the site', '/home/a/venv/bin/python # the site'),
    );
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect((await clusterIn(file, 'hpc')).python).toBe('/home/a/venv/bin/python');
    const again = await setClusterPython(
      file,
      await clusterIn(file, 'hpc'),
      '/home/a/venv/bin/python',
    );
    expect(again.changed).toBe(false);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it("copies a site's cluster into the user's file whole, and says where from", async () => {
    const dir = tmp();
    const site = path.join(dir, 'site.yaml');
    writeFileSync(site, USER_FILE);
    const cluster = await clusterIn(site, 'hpc');
    const user = path.join(dir, 'user', 'clusters.yaml');
    const change = await setClusterPython(user, cluster, '/v/bin/python', '/nonexistent');
    expect(change).toMatchObject({ changed: true, before: '/apps/python3', copiedFrom: site });
    const copied = await clusterIn(user, 'hpc');
    expect(copied).toMatchObject({
      title: 'My HPC',
      scheduler: 'slurm',
      ssh: { host: 'login.example.edu' },
      python: '/v/bin/python',
    });
    expect(statSync(user).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(user)).mode & 0o777).toBe(0o700);
  });

  it('the built-in local cluster becomes a definition of its own', async () => {
    const file = path.join(tmp(), 'clusters.yaml');
    const change = await setClusterPython(file, BUILTIN_LOCAL_CLUSTER, '/v/bin/python');
    expect(change.copiedFrom).toBe('the built-in definition');
    expect(await clusterIn(file, 'local')).toMatchObject({
      scheduler: 'local',
      python: '/v/bin/python',
    });
  });

  it('refuses a file with YAML errors and leaves it alone', async () => {
    const file = path.join(tmp(), 'clusters.yaml');
    writeFileSync(file, 'clusters:\n  hpc: [\n');
    await expect(setClusterPython(file, BUILTIN_LOCAL_CLUSTER, '/v')).rejects.toThrow(
      /YAML errors/,
    );
    expect(readFileSync(file, 'utf8')).toBe('clusters:\n  hpc: [\n');
  });
});

describe('configFileFor', () => {
  it('HPC_JUPYTER_CONFIG a file: that file; a directory: the file that defines the cluster', async () => {
    const dir = tmp();
    const file = path.join(dir, 'a.yaml');
    writeFileSync(file, USER_FILE);
    const cluster = await clusterIn(file, 'hpc');
    expect(await configFileFor(cluster, { HPC_JUPYTER_CONFIG: file }, '/h')).toBe(file);
    expect(await configFileFor(cluster, { HPC_JUPYTER_CONFIG: dir }, '/h')).toBe(file);
    mkdirSync(path.join(dir, 'other'));
    expect(
      await configFileFor(cluster, { HPC_JUPYTER_CONFIG: path.join(dir, 'other') }, '/h'),
    ).toBe(path.join(dir, 'other', 'clusters.yaml'));
    expect(await configFileFor(cluster, {}, '/h')).toBe('/h/.config/hpc-jupyter/clusters.yaml');
  });
});
