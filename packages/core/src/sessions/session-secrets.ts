/**
 * Session secrets on this machine: the Jupyter token or kernel key of each session, one 0600
 * file per session in a 0700 directory beside the store (`<store>/secrets/<id>`). Kept apart from
 * the records so that records can be served, logged and streamed freely. Also owns how secrets
 * are made and which file in the session directory on the cluster carries one.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { HpcError } from '../errors.js';
import { isSessionId } from './session-ids.js';
import { writeAtomic } from './session-store.js';

/** The file in the session directory that hands a job its secret (read by the template). */
export type SecretFile = 'token' | 'kernel-key';

/** What a template starts decides the secret it reads; engines make their own inside the job. */
export function secretFileFor(templateKind: string): SecretFile | undefined {
  if (templateKind === 'server' || templateKind === 'jupyter') return 'token';
  if (templateKind === 'kernel') return 'kernel-key';
  return undefined;
}

/** 32 random bytes as hex for a token; a UUID for a kernel's HMAC key, as Jupyter makes them. */
export function newSecret(file: SecretFile): string {
  return file === 'token' ? randomBytes(32).toString('hex') : randomUUID();
}

export class SessionSecrets {
  private ready: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  async read(id: string): Promise<string | undefined> {
    try {
      return (await readFile(this.fileOf(id), 'utf8')).trim();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async write(id: string, secret: string): Promise<void> {
    await this.ensureDir();
    await writeAtomic(this.fileOf(id), secret, 0o600);
  }

  async remove(id: string): Promise<void> {
    try {
      await unlink(this.fileOf(id));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  private fileOf(id: string): string {
    if (!isSessionId(id)) throw new HpcError(`Not a session id: ${JSON.stringify(id)}`);
    return path.join(this.dir, id);
  }

  private ensureDir(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await chmod(this.dir, 0o700);
    })().catch((error: unknown) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }
}
