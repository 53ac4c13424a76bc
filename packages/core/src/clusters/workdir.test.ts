import { chmod, mkdir, mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalTransport } from '../transport/local.js';
import { checkWorkdir, ensureWorkdir, parseStat, UnsafeWorkdirError, verdict } from './workdir.js';

const transport = new LocalTransport();
afterAll(() => transport.close());
const uid = process.getuid?.() ?? 0;

async function dirWithMode(mode: number): Promise<string> {
  const parent = await mkdtemp(path.join(tmpdir(), 'hpcj-workdir-'));
  const dir = path.join(parent, 'wd');
  await mkdir(dir);
  await chmod(dir, mode);
  return dir;
}

const modeOf = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

describe('verdict', () => {
  const dir = { uid: 1000, owner: 'me', mode: 0o700, isDirectory: true };
  it('accepts ours at 0700 and refuses another owner whatever the mode', () => {
    expect(verdict(dir, 1000, true)).toBe('ok');
    expect(verdict({ ...dir, uid: 1002 }, 1000, true)).toBe('not-ours');
    expect(verdict({ ...dir, isDirectory: false }, 1000, true)).toBe('not-directory');
  });
  it('refuses group or other write, repairs mere reading only where allowed', () => {
    expect(verdict({ ...dir, mode: 0o777 }, 1000, true)).toBe('writable');
    expect(verdict({ ...dir, mode: 0o1730 }, 1000, true)).toBe('writable');
    expect(verdict({ ...dir, mode: 0o755 }, 1000, true)).toBe('repair');
    expect(verdict({ ...dir, mode: 0o711 }, 1000, true)).toBe('repair');
    expect(verdict({ ...dir, mode: 0o755 }, 1000, false)).toBe('ok');
  });
  it('parses stat lines, including a missing path', () => {
    expect(parseStat('1001 2755 hpcjtest directory', '/w', 'x')).toEqual({
      uid: 1001,
      owner: 'hpcjtest',
      mode: 0o2755,
      isDirectory: true,
    });
    expect(parseStat('1001 644 hpcjtest regular file', '/w', 'x')?.isDirectory).toBe(false);
    expect(parseStat('missing', '/w', 'x')).toBeUndefined();
    expect(() => parseStat('garbage', '/w', 'x')).toThrow(/owner and mode/);
  });
});

describe('checkWorkdir on this machine', () => {
  it('creates a missing workdir and its sessions directory 0700', async () => {
    const dir = path.join(await mkdtemp(path.join(tmpdir(), 'hpcj-workdir-')), 'new');
    const report = await checkWorkdir({ name: 'c', scheduler: 'local', workdir: dir }, transport);
    expect(report).toMatchObject({ path: dir, mode: 0o700, repaired: [] });
    expect(await modeOf(dir)).toBe(0o700);
    expect(await modeOf(path.join(dir, 'sessions'))).toBe(0o700);
  });

  it('closes ours at 0755 to 0700 and says so', async () => {
    const dir = await dirWithMode(0o755);
    await mkdir(path.join(dir, 'sessions'), { mode: 0o750 });
    const notes: string[] = [];
    const report = await checkWorkdir({ name: 'c', scheduler: 'local', workdir: dir }, transport, {
      notice: (m) => notes.push(m),
    });
    expect(report.repaired).toEqual([
      { path: dir, from: 0o755 },
      { path: path.join(dir, 'sessions'), from: 0o750 },
    ]);
    expect(await modeOf(dir)).toBe(0o700);
    expect(await modeOf(path.join(dir, 'sessions'))).toBe(0o700);
    expect(notes.join('\n')).toMatch(/mode 0755\); set it to 0700/);
  });

  it('refuses ours at 0777 with the chmod to run, and leaves it alone', async () => {
    const dir = await dirWithMode(0o777);
    const config = { name: 'c', scheduler: 'local' as const, workdir: dir };
    const error = await ensureWorkdir(config, transport, undefined, () => undefined).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnsafeWorkdirError);
    expect((error as UnsafeWorkdirError).message).toMatch(/mode is 0777/);
    expect((error as UnsafeWorkdirError).hint).toContain(`chmod 700 ${dir}`);
    expect(await modeOf(dir)).toBe(0o777);
    // Fixed by the user, the next use passes (a refusal is not cached).
    await chmod(dir, 0o700);
    expect(await ensureWorkdir(config, transport)).toBe(dir);
  });

  it('refuses a sessions directory others may write into', async () => {
    const dir = await dirWithMode(0o700);
    await mkdir(path.join(dir, 'sessions'));
    await chmod(path.join(dir, 'sessions'), 0o733);
    await expect(
      checkWorkdir({ name: 'c', scheduler: 'local', workdir: dir }, transport),
    ).rejects.toThrow(/sessions on local: its mode is 0733/);
  });

  it.runIf(uid === 0)('refuses a workdir owned by another user', async () => {
    const dir = await dirWithMode(0o700);
    await import('node:fs/promises').then((fs) => fs.chown(dir, 65534, 65534));
    await expect(
      checkWorkdir({ name: 'c', scheduler: 'local', workdir: dir }, transport),
    ).rejects.toThrow(/belongs to .*uid 65534/);
  });
});
