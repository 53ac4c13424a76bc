import { chmod, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync, linkSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, HpcError } from '../errors.js';
import {
  agentLogPath,
  agentRuntimeDir,
  agentSocketPath,
  clearStaleSocket,
  ensurePrivateDir,
} from './socket-path.js';

let tmp: string;
beforeEach(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'hpcj-sock-'));
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('paths', () => {
  it('uses XDG_RUNTIME_DIR when it is absolute, else a per-user directory in /tmp', () => {
    expect(agentSocketPath({ XDG_RUNTIME_DIR: '/run/user/1000' }, 1000)).toBe(
      '/run/user/1000/hpc-jupyter/agent.sock',
    );
    expect(agentRuntimeDir({ XDG_RUNTIME_DIR: 'relative' }, 1000)).toBe(
      path.join(os.tmpdir(), 'hpc-jupyter-1000'),
    );
    expect(agentRuntimeDir({}, 42)).toBe(path.join(os.tmpdir(), 'hpc-jupyter-42'));
  });

  it('puts the log in the XDG state directory', () => {
    expect(agentLogPath({}, '/home/ada')).toBe('/home/ada/.local/state/hpc-jupyter/agent.log');
    expect(agentLogPath({ XDG_STATE_HOME: '/s' }, '/home/ada')).toBe('/s/hpc-jupyter/agent.log');
  });
});

describe('ensurePrivateDir', () => {
  it('creates the directory with mode 0700', async () => {
    const dir = path.join(tmp, 'hpc-jupyter');
    await ensurePrivateDir(dir);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await ensurePrivateDir(dir);
  });

  it('refuses a directory others may enter', async () => {
    const dir = path.join(tmp, 'open');
    await mkdir(dir);
    await chmod(dir, 0o755);
    await expect(ensurePrivateDir(dir)).rejects.toThrow(/mode is 0755, not 0700/);
  });

  it('refuses a symlink, even to a private directory', async () => {
    const real = path.join(tmp, 'real');
    await mkdir(real, { mode: 0o700 });
    const link = path.join(tmp, 'link');
    await symlink(real, link);
    await expect(ensurePrivateDir(link)).rejects.toThrow(/symbolic link/);
  });

  it("refuses a directory that is someone else's", async () => {
    const dir = path.join(tmp, 'theirs');
    await mkdir(dir, { mode: 0o700 });
    const uid = (process.getuid?.() ?? 0) + 1;
    await expect(ensurePrivateDir(dir, uid)).rejects.toThrow(/belongs to user/);
  });

  it('refuses a file in the way', async () => {
    const file = path.join(tmp, 'file');
    await writeFile(file, '');
    await expect(ensurePrivateDir(file)).rejects.toThrow(HpcError);
  });
});

describe('clearStaleSocket', () => {
  it('does nothing when there is no socket', async () => {
    await clearStaleSocket(path.join(tmp, 'none.sock'));
  });

  it('refuses a live socket: another agent runs', async () => {
    const sock = path.join(tmp, 'live.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      await expect(clearStaleSocket(sock)).rejects.toThrow(ConflictError);
      expect(existsSync(sock)).toBe(true);
    } finally {
      server.close();
    }
  });

  it('removes a stale socket nobody answers on', async () => {
    const live = path.join(tmp, 'live.sock');
    const stale = path.join(tmp, 'stale.sock');
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(live, resolve));
    // A second name for the socket survives the server's close: a socket with nobody behind it.
    linkSync(live, stale);
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve();
      });
    });
    expect(existsSync(stale)).toBe(true);
    await clearStaleSocket(stale);
    expect(existsSync(stale)).toBe(false);
  });

  it('leaves a regular file alone', async () => {
    const file = path.join(tmp, 'agent.sock');
    await writeFile(file, 'not a socket');
    await expect(clearStaleSocket(file)).rejects.toThrow(/not a socket/);
    expect(existsSync(file)).toBe(true);
  });
});
