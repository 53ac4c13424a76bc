/**
 * Reads OpenSSH known_hosts text and decides whether a line is about a given host and port, the
 * way OpenSSH's hostfile.c does: hashed names (`|1|salt|hash`), `[host]:port` for ports other
 * than 22, `*`/`?` wildcards, `!` negation, comma lists and the `@revoked`/`@cert-authority`
 * markers. Pure functions; reading and writing the files is known-hosts.ts.
 */

import { createHmac, randomBytes } from 'node:crypto';

export interface KnownHostEntry {
  /** The file the line came from, for messages that tell the user which line to remove. */
  readonly file: string;
  /** 1-based line number in `file`. */
  readonly line: number;
  readonly marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written: a comma list of patterns, or one `|1|salt|hash`. */
  readonly hosts: string;
  /** The key type named by the blob itself (the text field may lie; the blob decides). */
  readonly keyType: string;
  /** The raw public key blob (base64-decoded third field). */
  readonly key: Buffer;
}

const HASH_MAGIC = '|1|';

/** The key type string at the start of an SSH public key blob, or undefined if malformed. */
export function keyTypeOfBlob(blob: Buffer): string | undefined {
  if (blob.length < 4) return undefined;
  const len = blob.readUInt32BE(0);
  if (len === 0 || len > 64 || 4 + len > blob.length) return undefined;
  const type = blob.toString('latin1', 4, 4 + len);
  return /^[\x21-\x7e]+$/.test(type) ? type : undefined;
}

/** Parses known_hosts text; comments, blank lines and lines that do not parse are skipped. */
export function parseKnownHosts(text: string, file: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] ?? '').trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const fields = raw.split(/[ \t]+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@') === true) {
      const m = fields.shift();
      if (m === '@revoked') marker = 'revoked';
      else if (m === '@cert-authority') marker = 'cert-authority';
      else continue; // an unknown marker: OpenSSH ignores the line, so do we
    }
    const [hosts, , b64] = fields;
    if (hosts === undefined || b64 === undefined) continue;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) continue;
    const key = Buffer.from(b64, 'base64');
    const keyType = keyTypeOfBlob(key);
    if (keyType === undefined) continue;
    entries.push({ file, line: i + 1, marker, hosts, keyType, key });
  }
  return entries;
}

/** The name OpenSSH looks up: `host` on port 22, `[host]:port` otherwise, lower-cased. */
export function knownHostName(host: string, port: number): string {
  const h = host.toLowerCase();
  return port === 22 ? h : `[${h}]:${port}`;
}

/** `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as `HashKnownHosts yes` writes. */
export function hashHostName(name: string, salt: Buffer = randomBytes(20)): string {
  const mac = createHmac('sha1', salt).update(name).digest();
  return `${HASH_MAGIC}${salt.toString('base64')}|${mac.toString('base64')}`;
}

/** OpenSSH's glob: `*` any run of characters, `?` exactly one, everything else literal. */
export function globMatch(pattern: string, text: string): boolean {
  // Iterative matcher with single backtrack point: linear-ish, no regex built from input.
  let p = 0;
  let t = 0;
  let starP = -1;
  let starT = 0;
  while (t < text.length) {
    const c = pattern[p];
    if (c === '*') {
      starP = p++;
      starT = t;
    } else if (c !== undefined && (c === '?' || c === text[t])) {
      p++;
      t++;
    } else if (starP !== -1) {
      p = starP + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (pattern[p] === '*') p++;
  return p === pattern.length;
}

/**
 * OpenSSH's match_pattern_list: true when some positive pattern matches and no `!pattern` does.
 * A negation alone never matches anything.
 */
export function matchPatternList(patterns: string, name: string): boolean {
  let positive = false;
  for (const raw of patterns.split(',')) {
    const negated = raw.startsWith('!');
    const pattern = (negated ? raw.slice(1) : raw).toLowerCase();
    if (pattern === '') continue;
    if (globMatch(pattern, name)) {
      if (negated) return false;
      positive = true;
    }
  }
  return positive;
}

function matchHashed(hosts: string, name: string): boolean {
  const parts = hosts.slice(HASH_MAGIC.length).split('|');
  if (parts.length !== 2 || parts[0] === undefined || parts[1] === undefined) return false;
  const salt = Buffer.from(parts[0], 'base64');
  return hashHostName(name, salt) === hosts;
}

/** True when the entry's host field covers `host` on `port`. */
export function entryMatchesHost(entry: KnownHostEntry, host: string, port: number): boolean {
  const name = knownHostName(host, port);
  if (entry.hosts.startsWith(HASH_MAGIC)) return matchHashed(entry.hosts, name);
  return matchPatternList(entry.hosts, name);
}
