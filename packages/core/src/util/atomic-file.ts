/**
 * Files on this machine that must never be seen half-written: a temp file beside the target,
 * created exclusively with the final mode (chmod-ed again, since the umask narrows it), synced,
 * then renamed over the target, so readers see the old file or the new one and nothing between.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, rename, unlink } from 'node:fs/promises';
import path from 'node:path';
import { throwIfAborted } from '../errors.js';

export interface AtomicWriteOptions {
  /** Permission bits of the file, e.g. 0o600. */
  readonly mode: number;
  readonly signal?: AbortSignal;
  /** Also sync the directory, so the rename itself survives a crash (for stores of record). */
  readonly durable?: boolean;
}

/** Temp files of this module end in `.tmp` and start with a dot, beside their target. */
export function isAtomicTemp(name: string): boolean {
  return name.startsWith('.') && name.endsWith('.tmp');
}

export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions,
): Promise<void> {
  throwIfAborted(options.signal);
  const dir = path.dirname(file);
  const tmp = path.join(
    dir,
    `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  // 'wx': never writes through a file or link someone planted at the temp name.
  const handle = await open(tmp, 'wx', options.mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(tmp, options.mode);
    throwIfAborted(options.signal);
    await rename(tmp, file);
  } catch (error) {
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  if (options.durable === true) {
    const dirHandle = await open(dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}
