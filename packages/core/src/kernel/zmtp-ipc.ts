/**
 * Listening on an ipc:// endpoint (a Unix socket) that only this uid can connect to. Node has no
 * SO_PEERCRED, so the peer's uid cannot be asked; instead connect(2) needs write permission on
 * the socket file, and the file is made 0600 before anyone can reach it: bound inside a fresh
 * 0700 directory next to the target, made 0600, then hard-linked to the target path (a link
 * fails on an existing name, so a live socket is never replaced). A stale socket file, left by a
 * process that died, is removed first, as libzmq does. Root can still connect, as everywhere.
 */
import { chmodSync, linkSync, lstatSync, mkdtempSync, rmdirSync, unlinkSync } from 'node:fs';
import { type Server, connect } from 'node:net';
import { dirname, join } from 'node:path';

/** The longest Unix socket path Linux takes (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/** Listens on `path`; rejects with EADDRINUSE when a live socket is there. Returns its inode. */
export async function listenIpc(server: Server, path: string): Promise<number> {
  const privateDir = mkdtempSync(join(dirname(path), '.z'));
  const bound = join(privateDir, 's');
  try {
    if (Buffer.byteLength(bound) > MAX_SOCKET_PATH) {
      // No room for the detour: bound in place, made 0600 at once; the directory's mode guards
      // the moment in between (Jupyter's runtime directory is 0700).
      await listenOn(server, path, true);
      chmodSync(path, 0o600);
      return lstatSync(path).ino;
    }
    await listenOn(server, bound, false);
    try {
      chmodSync(bound, 0o600);
      try {
        linkSync(bound, path);
      } catch (error) {
        if (!(await removeStaleSocket(error, path))) throw error;
        linkSync(bound, path);
      }
    } catch (error) {
      server.close();
      throw error;
    }
    return lstatSync(path).ino;
  } finally {
    try {
      unlinkSync(bound);
    } catch {
      // not bound there
    }
    rmdirSync(privateDir);
  }
}

/** Removes the socket file at `path` if it is still the one with inode `ino` (ours). */
export function unlinkIpc(path: string, ino: number): void {
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path);
  } catch {
    // gone already
  }
}

async function listenOn(server: Server, path: string, takeOverStale: boolean): Promise<void> {
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
  try {
    await listen();
  } catch (error) {
    if (!takeOverStale || !(await removeStaleSocket(error, path))) throw error;
    await listen();
  }
}

/**
 * After EADDRINUSE or EEXIST on a Unix socket path: removes the path when it is a socket nobody
 * listens on. True when removed; an error with code EADDRINUSE is thrown for a live one.
 */
async function removeStaleSocket(error: unknown, path: string): Promise<boolean> {
  const code = (error as { code?: unknown }).code;
  if (code !== 'EADDRINUSE' && code !== 'EEXIST') return false;
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  const listening = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      resolve(false);
    });
  });
  if (listening) {
    throw Object.assign(new Error(`listen EADDRINUSE: address already in use ${path}`), {
      code: 'EADDRINUSE',
    });
  }
  unlinkSync(path);
  return true;
}
