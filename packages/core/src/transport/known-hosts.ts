/**
 * Host keys against known_hosts files: the verdict for a presented key (known, unknown, changed,
 * revoked), OpenSSH-style fingerprints, and appending a newly accepted key to the user's file.
 * Parsing and host matching live in known-hosts-parse.ts.
 */

import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { appendFile, mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { throwIfAborted } from '../errors.js';
import {
  entryMatchesHost,
  hashHostName,
  keyTypeOfBlob,
  knownHostName,
  parseKnownHosts,
  type KnownHostEntry,
} from './known-hosts-parse.js';

export type HostKeyVerdict =
  | { readonly kind: 'known'; readonly entry: KnownHostEntry }
  | { readonly kind: 'unknown'; readonly knownTypes: readonly string[] }
  | { readonly kind: 'changed'; readonly entry: KnownHostEntry }
  | { readonly kind: 'revoked'; readonly entry: KnownHostEntry };

/** `SHA256:` and unpadded base64 of the blob's SHA-256, exactly as `ssh-keygen -l` prints it. */
export function sha256Fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Decides what `blob` means for host:port given every entry of every file (user files first).
 * Revocation wins over everything; then any exact match; then a different key of the same type
 * is a change (a possible attack); anything else is unknown. Keys of other types do not make a
 * key "changed": servers have several, and which one is negotiated can vary.
 */
export function checkHostKey(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  blob: Buffer,
): HostKeyVerdict {
  const type = keyTypeOfBlob(blob) ?? 'unknown';
  const matching = entries.filter(
    (e) => e.marker !== 'cert-authority' && entryMatchesHost(e, host, port),
  );
  const revoked = matching.find((e) => e.marker === 'revoked' && e.key.equals(blob));
  if (revoked !== undefined) return { kind: 'revoked', entry: revoked };
  const plain = matching.filter((e) => e.marker === undefined);
  const known = plain.find((e) => e.key.equals(blob));
  if (known !== undefined) return { kind: 'known', entry: known };
  const changed = plain.find((e) => e.keyType === type);
  if (changed !== undefined) return { kind: 'changed', entry: changed };
  return { kind: 'unknown', knownTypes: [...new Set(plain.map((e) => e.keyType))] };
}

/** Reads and parses the files in order; missing or unreadable files count as empty. */
export async function loadKnownHosts(
  files: readonly string[],
  signal?: AbortSignal,
): Promise<KnownHostEntry[]> {
  const entries: KnownHostEntry[] = [];
  for (const file of files) {
    throwIfAborted(signal);
    let text: string;
    try {
      text = await readFile(file, { encoding: 'utf8', signal });
    } catch {
      throwIfAborted(signal);
      // OpenSSH silently skips known_hosts files it cannot open; a missing one is the norm.
      continue;
    }
    entries.push(...parseKnownHosts(text, file));
  }
  return entries;
}

/** The line `appendKnownHost` writes, without the newline. */
export function knownHostLine(host: string, port: number, blob: Buffer, hash: boolean): string {
  const name = knownHostName(host, port);
  const type = keyTypeOfBlob(blob) ?? 'unknown';
  return `${hash ? hashHostName(name) : name} ${type} ${blob.toString('base64')}`;
}

/**
 * Appends a line for host:port to `file`, creating its directory (0700) and the file (0600) when
 * missing, as ssh does. O_APPEND keeps concurrent appends from interleaving within a line.
 */
export async function appendKnownHost(
  file: string,
  host: string,
  port: number,
  blob: Buffer,
  options: { readonly hash: boolean; readonly signal?: AbortSignal },
): Promise<void> {
  throwIfAborted(options.signal);
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  // A file whose last line lacks its newline would glue our entry onto it and corrupt both.
  const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_CREAT, 0o600);
  try {
    const { size } = await handle.stat();
    if (size > 0) {
      const last = Buffer.alloc(1);
      await handle.read(last, 0, 1, size - 1);
      if (last[0] !== 0x0a) prefix = '\n';
    }
  } finally {
    await handle.close();
  }
  const line = `${prefix}${knownHostLine(host, port, blob, options.hash)}\n`;
  await appendFile(file, line, { mode: 0o600 });
}

/** Key types recorded (not revoked, not CA) for host:port, in file order. */
export function knownKeyTypes(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
): string[] {
  const types = entries
    .filter((e) => e.marker === undefined && entryMatchesHost(e, host, port))
    .map((e) => e.keyType);
  return [...new Set(types)];
}

/** ssh2's default host-key algorithms, most preferred first. */
const DEFAULT_HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * The host-key algorithms to offer, those for already known key types first, as OpenSSH does: a
 * server with several keys then presents the one we can check, instead of one of a type we have
 * never recorded that would look unknown. Undefined when nothing is known (keep the defaults).
 */
export function hostKeyAlgorithmOrder(knownTypes: readonly string[]): string[] | undefined {
  const first: string[] = [];
  for (const type of knownTypes) {
    if (type === 'ssh-rsa') first.push('rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa');
    else if (DEFAULT_HOST_KEY_ALGORITHMS.includes(type)) first.push(type);
  }
  if (first.length === 0) return undefined;
  return [...new Set([...first, ...DEFAULT_HOST_KEY_ALGORITHMS])];
}
