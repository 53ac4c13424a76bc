/**
 * What a launcher leaves for the next one started with the same connection file and key (a
 * restart from Jupyter starts a new launcher process with the same file): the session it runs in,
 * so the restarted kernel stays in the same job, and the remote kernel's session id, so the new
 * launcher can tell the restarted kernel from the old one. One small 0600 file per connection
 * file in `<agent runtime dir>/kernels/` (0700), named by a hash: no key or path in the name.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface KernelState {
  readonly sessionId: string;
  readonly profile: string;
  /** The remote kernel process's session id, once connected. */
  readonly remoteSession?: string;
  /** The launcher asked that kernel to restart (or saw it die) before it exited. */
  readonly restarting?: boolean;
}

/** Files older than this belong to kernels long gone. */
const STALE_MS = 7 * 24 * 3600_000;

export class KernelStateFile {
  readonly file: string;

  constructor(
    private readonly dir: string,
    connectionFile: string,
    key: string,
  ) {
    const name = createHash('sha256')
      .update(path.resolve(connectionFile))
      .update('\0')
      .update(key)
      .digest('hex')
      .slice(0, 32);
    this.file = path.join(dir, `${name}.json`);
  }

  async read(): Promise<KernelState | undefined> {
    try {
      const value = JSON.parse(await readFile(this.file, 'utf8')) as Partial<KernelState>;
      if (typeof value.sessionId !== 'string' || typeof value.profile !== 'string')
        return undefined;
      return {
        sessionId: value.sessionId,
        profile: value.profile,
        ...(typeof value.remoteSession === 'string' ? { remoteSession: value.remoteSession } : {}),
        ...(value.restarting === true ? { restarting: true } : {}),
      };
    } catch {
      return undefined;
    }
  }

  async write(state: KernelState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
    await rename(tmp, this.file);
  }

  async remove(): Promise<void> {
    await unlink(this.file).catch(() => undefined);
  }

  /** Removes files of kernels that ended long ago (their launcher was killed). */
  async prune(now = Date.now()): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    await Promise.all(
      names.map(async (name) => {
        const file = path.join(this.dir, name);
        const info = await stat(file).catch(() => undefined);
        if (info !== undefined && now - info.mtimeMs > STALE_MS)
          await unlink(file).catch(() => undefined);
      }),
    );
  }
}
