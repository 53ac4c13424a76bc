import { mkdtemp, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { LOCK_FILE, StoreInUseError, StoreLock } from './store-lock.js';

const tempDir = (): Promise<string> => mkdtemp(path.join(tmpdir(), 'hpcj-lock-'));

/** A pid that is certainly not running: beyond the kernel's pid_max. */
const DEAD_PID = 2 ** 22 + 1;

describe('StoreLock', () => {
  it('is taken once, refused to a second agent on the same host, and free after release', async () => {
    const dir = await tempDir();
    const first = await StoreLock.acquire(dir, { host: 'login1' });
    expect((await stat(path.join(dir, LOCK_FILE))).mode & 0o777).toBe(0o600);
    const second = StoreLock.acquire(dir, { host: 'login1', pid: process.pid + 1 });
    await expect(second).rejects.toBeInstanceOf(StoreInUseError);
    await expect(second).rejects.toThrow(/in use by the hpc-jupyter agent on login1/);
    await first.release();
    const third = await StoreLock.acquire(dir, { host: 'login1' });
    await third.release();
  });

  it('refuses an agent on another host while the holder keeps it fresh, with what to do', async () => {
    const dir = await tempDir();
    const held = await StoreLock.acquire(dir, { host: 'login1' });
    const error = await StoreLock.acquire(dir, { host: 'login2' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreInUseError);
    expect((error as StoreInUseError).hint).toMatch(/Stop the agent on login1 first/);
    await held.release();
  });

  it('takes over a lock whose holder on this host is gone', async () => {
    const dir = await tempDir();
    const holder = { host: 'login1', pid: DEAD_PID, since: 'then', token: 'old' };
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(holder));
    const lock = await StoreLock.acquire(dir, { host: 'login1' });
    expect(lock.holder.pid).toBe(process.pid);
    await lock.release();
  });

  it('takes over a lock from another host only once it is stale', async () => {
    const dir = await tempDir();
    const file = path.join(dir, LOCK_FILE);
    const holder = { host: 'login2', pid: process.pid, since: 'then', token: 'old' };
    await writeFile(file, JSON.stringify(holder));
    await expect(StoreLock.acquire(dir, { host: 'login1' })).rejects.toBeInstanceOf(
      StoreInUseError,
    );
    const old = new Date(Date.now() - 120_000);
    await utimes(file, old, old);
    const lock = await StoreLock.acquire(dir, { host: 'login1' });
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ host: 'login1' });
    await lock.release();
  });

  it('tells its owner when another agent took the lock over', async () => {
    const dir = await tempDir();
    let lost: unknown = 'not yet';
    const lock = await StoreLock.acquire(dir, {
      host: 'login1',
      refreshMs: 20,
      onLost: (h) => (lost = h),
    });
    const thief = { host: 'login2', pid: 1, since: 'now', token: 'new' };
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(thief));
    await new Promise((r) => setTimeout(r, 100));
    expect(lost).toEqual(thief);
    // Releasing a lock that is no longer ours leaves the new owner's file alone.
    await lock.release();
    expect(JSON.parse(await readFile(path.join(dir, LOCK_FILE), 'utf8'))).toEqual(thief);
  });

  it('keeps the lock fresh while held', async () => {
    const dir = await tempDir();
    const file = path.join(dir, LOCK_FILE);
    const lock = await StoreLock.acquire(dir, { refreshMs: 20 });
    const old = new Date(Date.now() - 120_000);
    await utimes(file, old, old);
    await new Promise((r) => setTimeout(r, 100));
    expect(Date.now() - (await stat(file)).mtimeMs).toBeLessThan(10_000);
    await lock.release();
  });
});

describe.runIf(process.platform === 'linux')('StoreLock and dead holders', () => {
  it('takes over from a killed holder that is still a zombie', async () => {
    const { spawn } = await import('node:child_process');
    const dir = await tempDir();
    // `sleep 30` is a child of a process that never reaps it (sh exec'd into sleep 60): killed,
    // it stays a zombie, as a killed agent does until its reaper gets to it.
    const parent = spawn('sh', ['-c', 'sleep 30 & echo $!; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const pid = Number(
      await new Promise<string>((r) => {
        parent.stdout.once('data', (d: Buffer) => {
          r(d.toString());
        });
      }),
    );
    try {
      const holder = { host: 'login1', pid, since: 'then', token: 'old' };
      await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(holder));
      await expect(StoreLock.acquire(dir, { host: 'login1' })).rejects.toBeInstanceOf(
        StoreInUseError,
      );
      process.kill(pid, 'SIGKILL');
      await new Promise((r) => setTimeout(r, 200));
      expect((await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]?.[0]).toBe('Z');
      const lock = await StoreLock.acquire(dir, { host: 'login1' });
      await lock.release();
    } finally {
      parent.kill('SIGKILL');
    }
  });

  it('takes over from a pid that another process reuses (its start time differs)', async () => {
    const dir = await tempDir();
    const holder = { host: 'login1', pid: 1, since: 'then', token: 'old', startTime: '1' };
    await writeFile(path.join(dir, LOCK_FILE), JSON.stringify(holder));
    const lock = await StoreLock.acquire(dir, { host: 'login1' });
    expect(lock.holder.startTime).toMatch(/^\d+$/);
    await lock.release();
  });
});
