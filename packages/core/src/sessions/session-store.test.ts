import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SessionFileError } from '../errors.js';
import { SessionSecrets } from './session-secrets.js';
import { defaultSessionsDir, SessionStore } from './session-store.js';
import type { SessionRecord } from './types.js';

let root: string;
let dir: string;

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'hpcj-store-'));
  dir = path.join(root, 'state', 'sessions');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function record(id: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    cluster: 'local',
    template: 'jupyter',
    params: { hours: 1 },
    title: 'JupyterLab on local (1 node)',
    jobName: `hpcj-${id}`,
    state: 'queued',
    createdAt: '2024-01-01T00:00:00.000Z',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...extra,
  };
}

describe('SessionStore', () => {
  it('saves records as 0600 files in a 0700 directory and loads them back', async () => {
    const store = new SessionStore(dir);
    await store.save(record('s000000000001'));
    await store.save(record('s000000000002', { jobId: '7', state: 'ready' }));
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 's000000000001.json'))).mode & 0o777).toBe(0o600);
    const { records, problems } = await new SessionStore(dir).load();
    expect(problems).toEqual([]);
    expect(records.map((r) => [r.id, r.state, r.jobId])).toEqual([
      ['s000000000001', 'queued', undefined],
      ['s000000000002', 'ready', '7'],
    ]);
  });

  it('leaves no temporary files and keeps the last of many concurrent writes', async () => {
    const store = new SessionStore(dir);
    const writes = [];
    for (let i = 0; i < 50; i++) {
      writes.push(store.save(record('s000000000003', { reason: `write ${i}` })));
    }
    await Promise.all(writes);
    expect(await readdir(dir)).toEqual(['s000000000003.json']);
    const saved = JSON.parse(
      await readFile(path.join(dir, 's000000000003.json'), 'utf8'),
    ) as SessionRecord;
    expect(saved.reason).toBe('write 49');
  });

  it('skips and reports damaged files, and loads the rest', async () => {
    const store = new SessionStore(dir);
    await store.save(record('s000000000004'));
    await writeFile(path.join(dir, 's000000000005.json'), '{"id": "s000000000005", "clus');
    await writeFile(
      path.join(dir, 's000000000006.json'),
      JSON.stringify(record('s000000000006', { state: 'exploded' as never })),
    );
    await writeFile(path.join(dir, 's000000000007.json'), JSON.stringify(record('s000000000008')));
    await writeFile(path.join(dir, 'notes.txt'), 'not a session');
    const { records, problems } = await new SessionStore(dir).load();
    expect(records.map((r) => r.id)).toEqual(['s000000000004']);
    expect(problems).toHaveLength(3);
    for (const p of problems) expect(p).toBeInstanceOf(SessionFileError);
    expect(problems.map((p) => path.basename(p.file)).sort()).toEqual([
      's000000000005.json',
      's000000000006.json',
      's000000000007.json',
    ]);
    expect(problems.find((p) => p.file.endsWith('6.json'))?.message).toMatch(/state/);
  });

  it('removes temporary files left by a crash, but only stale ones', async () => {
    const store = new SessionStore(dir);
    await store.ensureDir();
    const stale = path.join(dir, '.s000000000009.json.abc.tmp');
    const fresh = path.join(dir, '.s000000000010.json.def.tmp');
    await writeFile(stale, '{');
    await writeFile(fresh, '{');
    const old = new Date(Date.now() - 3600_000);
    await utimes(stale, old, old);
    await store.load();
    expect((await readdir(dir)).sort()).toEqual(['.s000000000010.json.def.tmp']);
  });

  it('deletes records, and refuses ids that are not ids', async () => {
    const store = new SessionStore(dir);
    await store.save(record('s000000000011'));
    await store.delete('s000000000011');
    await store.delete('s000000000011');
    expect(await readdir(dir)).toEqual([]);
    expect(() => store.fileOf('../escape')).toThrow(/session id/);
  });

  it('defaults under XDG_STATE_HOME or ~/.local/state', () => {
    expect(defaultSessionsDir({ XDG_STATE_HOME: '/x/state' }, '/home/u')).toBe(
      '/x/state/hpc-jupyter/sessions',
    );
    expect(defaultSessionsDir({ XDG_STATE_HOME: 'relative' }, '/home/u')).toBe(
      '/home/u/.local/state/hpc-jupyter/sessions',
    );
    expect(defaultSessionsDir({}, '/home/u')).toBe('/home/u/.local/state/hpc-jupyter/sessions');
  });
});

describe('SessionSecrets', () => {
  it('keeps each secret in a 0600 file of a 0700 directory', async () => {
    const secrets = new SessionSecrets(path.join(dir, 'secrets'));
    expect(await secrets.read('s000000000012')).toBeUndefined();
    await secrets.write('s000000000012', 'abc123');
    expect(await secrets.read('s000000000012')).toBe('abc123');
    expect((await stat(path.join(dir, 'secrets'))).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 'secrets', 's000000000012'))).mode & 0o777).toBe(0o600);
    await secrets.remove('s000000000012');
    await secrets.remove('s000000000012');
    expect(await secrets.read('s000000000012')).toBeUndefined();
  });

  it('keeps the leases in a 0600 file that loading records leaves alone, and reports a damaged one', async () => {
    const store = new SessionStore(dir);
    expect(await store.loadLeases()).toEqual({ entries: [] });
    await store.save(record('s000000000001'));
    const leases = [{ id: 's000000000001', graceMs: 10_000, holdUntil: 0 }];
    await store.saveLeases(leases);
    expect((await stat(path.join(dir, 'leases.json'))).mode & 0o777).toBe(0o600);
    expect(await store.loadLeases()).toEqual({ entries: leases });
    const loaded = await store.load();
    expect(loaded.problems).toEqual([]);
    expect(loaded.records.map((r) => r.id)).toEqual(['s000000000001']);
    await writeFile(path.join(dir, 'leases.json'), '{"version":1,"leases":[{"id":"s0000');
    const damaged = await store.loadLeases();
    expect(damaged.entries).toEqual([]);
    expect(damaged.problem?.message).toMatch(/leases file .*leases\.json is damaged/);
  });
});
