/**
 * The key material for public-key login: which key files to offer, loading them (asking for the
 * passphrase of an encrypted key, with a few retries), and an ssh-agent client that counts the
 * keys it offers and, under IdentitiesOnly, offers only the ones matching an identity file.
 */

import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import ssh2 from 'ssh2';
import type { IdentityCallback, ParsedKey } from 'ssh2';

import { throwIfAborted } from '../errors.js';
import type { SshPrompter } from './ssh-options.js';

const { OpenSSHAgent, utils } = ssh2;

/** OpenSSH's default identities, in its order, minus the long-deprecated DSA. */
export const DEFAULT_KEY_NAMES = ['id_ed25519', 'id_ecdsa', 'id_rsa'] as const;

/** How many times a wrong passphrase may be typed before the key is given up. */
export const PASSPHRASE_ATTEMPTS = 3;

export type KeyLoad =
  | { readonly kind: 'key'; readonly file: string; readonly key: ParsedKey }
  | { readonly kind: 'skipped'; readonly file: string; readonly reason: string };

/** Identity files first, then (when none is configured) the default keys that exist. */
export async function keyFilesToTry(
  identityFiles: readonly string[],
  useDefaults: boolean,
  homeDir: string,
): Promise<string[]> {
  const files = [...identityFiles];
  if (useDefaults) {
    for (const name of DEFAULT_KEY_NAMES) {
      const file = join(homeDir, '.ssh', name);
      try {
        await access(file);
        if (!files.includes(file)) files.push(file);
      } catch {
        // OpenSSH silently skips default keys that are not there; so do we.
      }
    }
  }
  return files;
}

function parse(data: Buffer, passphrase?: string): ParsedKey | Error {
  const parsed = utils.parseKey(data, passphrase) as ParsedKey | ParsedKey[] | Error;
  // New-format files may hold several keys; OpenSSH only ever writes one.
  return Array.isArray(parsed) ? (parsed[0] ?? new Error('No key in file')) : parsed;
}

const ENCRYPTED = /no passphrase given/i;
const BAD_PASSPHRASE = /passphrase|integrity check|decrypt/i;

/**
 * Loads a private key. An encrypted key asks `prompter.passphrase` until the key opens, the user
 * declines, or PASSPHRASE_ATTEMPTS wrong answers; failures come back as `skipped` with a reason
 * for the final error message, since other keys or methods may still work.
 */
export async function loadKey(
  file: string,
  ctx: { readonly host: string; readonly prompter?: SshPrompter; readonly signal?: AbortSignal },
): Promise<KeyLoad> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      kind: 'skipped',
      file,
      reason: code === 'ENOENT' ? 'not found' : `unreadable (${code ?? 'error'})`,
    };
  }
  let parsed = parse(data);
  if (!(parsed instanceof Error)) return checkPrivate(file, parsed);
  if (!ENCRYPTED.test(parsed.message)) {
    return { kind: 'skipped', file, reason: `not a usable private key (${parsed.message})` };
  }
  if (ctx.prompter === undefined) {
    return { kind: 'skipped', file, reason: 'encrypted, and nobody to ask for the passphrase' };
  }
  for (let attempt = 1; attempt <= PASSPHRASE_ATTEMPTS; attempt++) {
    throwIfAborted(ctx.signal);
    const passphrase = await ctx.prompter.passphrase({ host: ctx.host, keyFile: file }, ctx.signal);
    throwIfAborted(ctx.signal);
    if (passphrase === undefined) return { kind: 'skipped', file, reason: 'passphrase declined' };
    parsed = parse(data, passphrase);
    if (!(parsed instanceof Error)) return checkPrivate(file, parsed);
    if (!BAD_PASSPHRASE.test(parsed.message)) {
      return { kind: 'skipped', file, reason: `cannot decrypt (${parsed.message})` };
    }
  }
  return {
    kind: 'skipped',
    file,
    reason: `wrong passphrase (${PASSPHRASE_ATTEMPTS} attempts)`,
  };
}

function checkPrivate(file: string, key: ParsedKey): KeyLoad {
  if (!key.isPrivateKey()) {
    return {
      kind: 'skipped',
      file,
      reason: 'is a public key; IdentityFile must name the private key',
    };
  }
  return { kind: 'key', file, key };
}

/** The public blob of an identity file, from `file.pub` or the unencrypted private key. */
export async function publicBlobOf(file: string): Promise<Buffer | undefined> {
  for (const candidate of [`${file}.pub`, file]) {
    try {
      const parsed = parse(await readFile(candidate));
      if (!(parsed instanceof Error)) return parsed.getPublicSSH();
    } catch {
      // Missing .pub or unreadable: try the next source.
    }
  }
  return undefined;
}

/**
 * An ssh-agent client that remembers how many keys it offered (for the error message) and can
 * restrict them to a set of public blobs: with many keys loaded, a server's MaxAuthTries would
 * otherwise end the login before the right key is reached.
 */
export class CountingAgent extends OpenSSHAgent {
  /** Public blobs of the keys offered to the server, so key files need not repeat them. */
  offered: Buffer[] = [];

  constructor(
    socketPath: string,
    private readonly only: readonly Buffer[] | undefined,
  ) {
    super(socketPath);
  }

  override getIdentities(cb: IdentityCallback<ParsedKey>): void {
    super.getIdentities((err, keys) => {
      if (err !== undefined && err !== null) {
        cb(err);
        return;
      }
      const only = this.only;
      const chosen: ParsedKey[] = [];
      for (const k of keys ?? []) {
        // OpenSSHAgent hands back parsed keys; anything else we cannot compare, so do not offer.
        if (typeof k !== 'object' || !('getPublicSSH' in k)) continue;
        const blob = k.getPublicSSH();
        if (only === undefined || only.some((b) => b.equals(blob))) chosen.push(k);
      }
      this.offered = chosen.map((k) => k.getPublicSSH());
      cb(undefined, chosen);
    });
  }
}
