/**
 * File operations over one SFTP session: read, atomic write with an explicit mode, recursive
 * mkdir, exists, remove. Paths that are relative or start with `~` resolve against the remote
 * home (the SFTP server's starting directory), since SFTP has no shell to expand them.
 */

import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';

import type { Client as Ssh2Client, SFTPWrapper, Stats } from 'ssh2';

import { HpcError, SshError, throwIfAborted } from '../errors.js';

/** SFTP status codes (draft-ietf-secsh-filexfer-02) that we act on. */
const NO_SUCH_FILE = 2;

function isMissing(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === NO_SUCH_FILE;
}

/** Adapts one callback-style SFTP call to a promise. */
function call<T = undefined>(
  fn: (cb: (err?: Error | null, value?: T) => void) => void,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    try {
      fn((err, value) => {
        if (err !== undefined && err !== null) reject(err);
        else resolve(value as T);
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

export class SftpFiles {
  private constructor(
    readonly sftp: SFTPWrapper,
    /** The remote home directory, absolute. */
    readonly home: string,
    private readonly host: string,
  ) {}

  /** Opens the SFTP subsystem on `client` and learns the home directory. */
  static async open(client: Ssh2Client, host: string): Promise<SftpFiles> {
    const sftp = await call<SFTPWrapper>((cb) => client.sftp(cb));
    try {
      const home = await call<string>((cb) => {
        sftp.realpath('.', cb);
      });
      return new SftpFiles(sftp, home, host);
    } catch (err) {
      sftp.end();
      throw err;
    }
  }

  /** Absolute remote path for `path`: `~`, `~/x` and relative paths are under the home. */
  resolve(path: string): string {
    if (path === '' || path === '~') return this.home;
    if (path.startsWith('~/')) return posix.join(this.home, path.slice(2));
    if (path.startsWith('~')) {
      throw new SshError(
        `Cannot resolve ${path} on ${this.host}: ~user paths are not supported.`,
        this.host,
      );
    }
    return posix.isAbsolute(path) ? posix.normalize(path) : posix.join(this.home, path);
  }

  async readFile(path: string, signal?: AbortSignal): Promise<Buffer> {
    throwIfAborted(signal);
    const abs = this.resolve(path);
    try {
      return await call<Buffer>((cb) => {
        this.sftp.readFile(abs, cb);
      });
    } catch (err) {
      throw this.error('read', abs, err);
    }
  }

  async writeFileAtomic(
    path: string,
    data: string | Uint8Array,
    mode: number,
    signal?: AbortSignal,
  ): Promise<void> {
    throwIfAborted(signal);
    const abs = this.resolve(path);
    const tmp = posix.join(
      posix.dirname(abs),
      `.${posix.basename(abs)}.tmp-${randomBytes(6).toString('hex')}`,
    );
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    try {
      // 'wx' = O_CREAT|O_EXCL: never writes through a file (or link) someone planted there.
      const handle = await call<Buffer>((cb) => {
        this.sftp.open(tmp, 'wx', { mode }, cb);
      });
      try {
        if (buf.length > 0) {
          await call<number>((cb) => {
            this.sftp.write(handle, buf, 0, buf.length, 0, cb);
          });
        }
        // The server applies its umask to the create mode; set the bits we were asked for.
        await call((cb) => {
          this.sftp.fchmod(handle, mode, cb);
        });
      } finally {
        await call((cb) => {
          this.sftp.close(handle, cb);
        }).catch(() => undefined);
      }
      throwIfAborted(signal);
      await this.renameOver(tmp, abs);
    } catch (err) {
      await call((cb) => {
        this.sftp.unlink(tmp, cb);
      }).catch(() => undefined);
      throw this.error('write', abs, err);
    }
  }

  /** posix-rename replaces atomically; plain SFTP rename refuses an existing target. */
  private async renameOver(from: string, to: string): Promise<void> {
    try {
      await call((cb) => {
        this.sftp.ext_openssh_rename(from, to, cb);
      });
      return;
    } catch (err) {
      if (!/does not support/i.test((err as Error).message)) throw err;
    }
    try {
      await call((cb) => {
        this.sftp.rename(from, to, cb);
      });
    } catch {
      await call((cb) => {
        this.sftp.unlink(to, cb);
      }).catch((e: unknown) => {
        if (!isMissing(e)) throw e;
      });
      await call((cb) => {
        this.sftp.rename(from, to, cb);
      });
    }
  }

  /** Creates `path` and missing parents with `mode`; existing directories are left as they are. */
  async mkdir(path: string, mode: number, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const abs = this.resolve(path);
    const parts = abs.split('/').filter((p) => p !== '');
    const prefix = (n: number): string => `/${parts.slice(0, n).join('/')}`;
    // Walk up from the full path: usually it, or its parent, exists and one stat suffices.
    let existing = parts.length;
    for (; existing > 0; existing--) {
      const st = await this.statOrUndefined(prefix(existing));
      if (st === undefined) continue;
      if (!st.isDirectory()) {
        throw new SshError(
          `Cannot create ${abs} on ${this.host}: ${prefix(existing)} is not a directory.`,
          this.host,
        );
      }
      break;
    }
    for (let n = existing + 1; n <= parts.length; n++) {
      throwIfAborted(signal);
      const dir = prefix(n);
      try {
        await call((cb) => {
          this.sftp.mkdir(dir, { mode }, cb);
        });
      } catch (err) {
        // Someone else may have created it in the meantime; that is fine if it is a directory.
        if ((await this.statOrUndefined(dir))?.isDirectory() === true) continue;
        throw this.error('create directory', dir, err);
      }
      try {
        await call((cb) => {
          this.sftp.chmod(dir, mode, cb);
        });
      } catch (err) {
        throw this.error('set the mode of', dir, err);
      }
    }
  }

  async exists(path: string, signal?: AbortSignal): Promise<boolean> {
    throwIfAborted(signal);
    const abs = this.resolve(path);
    try {
      return (await this.statOrUndefined(abs)) !== undefined;
    } catch (err) {
      throw this.error('check', abs, err);
    }
  }

  async remove(path: string, signal?: AbortSignal): Promise<void> {
    throwIfAborted(signal);
    const abs = this.resolve(path);
    try {
      await call((cb) => {
        this.sftp.unlink(abs, cb);
      });
    } catch (err) {
      if (isMissing(err)) return;
      throw this.error('remove', abs, err);
    }
  }

  end(): void {
    this.sftp.end();
  }

  private async statOrUndefined(path: string): Promise<Stats | undefined> {
    try {
      return await call<Stats>((cb) => {
        this.sftp.stat(path, cb);
      });
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  private error(what: string, path: string, err: unknown): HpcError {
    if (err instanceof HpcError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new SshError(`Cannot ${what} ${path} on ${this.host}: ${message}`, this.host, {
      cause: err,
    });
  }
}
