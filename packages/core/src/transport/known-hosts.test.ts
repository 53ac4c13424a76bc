import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import ssh2 from 'ssh2';
import { describe, expect, it } from 'vitest';

import {
  entryMatchesHost,
  globMatch,
  hashHostName,
  knownHostName,
  matchPatternList,
  parseKnownHosts,
} from './known-hosts-parse.js';
import {
  appendKnownHost,
  checkHostKey,
  hostKeyAlgorithmOrder,
  knownKeyTypes,
  loadKnownHosts,
  sha256Fingerprint,
} from './known-hosts.js';

const { utils } = ssh2;

function newKey(type: 'ed25519' | 'ecdsa' = 'ed25519'): { line: string; blob: Buffer } {
  for (;;) {
    const pair =
      type === 'ecdsa'
        ? utils.generateKeyPairSync('ecdsa', { bits: 256 })
        : utils.generateKeyPairSync('ed25519');
    // ssh2's keygen occasionally emits an unparsable ed25519 key; take one that parses.
    if (utils.parseKey(pair.public) instanceof Error) continue;
    const [kt, b64] = pair.public.split(' ');
    return { line: `${kt ?? ''} ${b64 ?? ''}`, blob: Buffer.from(b64 ?? '', 'base64') };
  }
}

const A = newKey();
const B = newKey();
const C = newKey('ecdsa');

const FIXTURE = `# a comment, then a blank line

plain.example.org ${A.line}
*.wild.org,!bad.wild.org ${A.line}
[ported.example.org]:2222 ${B.line}
h?.example.org,10.0.0.7 ${A.line} comment with spaces
@revoked revoked.example.org ${A.line}
@cert-authority *.example.org ${B.line}
multi.example.org ${A.line}
multi.example.org ${C.line}
garbage line without a key
bad.example.org ssh-ed25519 not-base64!!
`;

const QUERIES: [string, number][] = [
  ['plain.example.org', 22],
  ['PLAIN.example.org', 22],
  ['plain.example.org', 2222],
  ['x.wild.org', 22],
  ['bad.wild.org', 22],
  ['ported.example.org', 22],
  ['ported.example.org', 2222],
  ['h1.example.org', 22],
  ['h12.example.org', 22],
  ['10.0.0.7', 22],
  ['revoked.example.org', 22],
  ['multi.example.org', 22],
  ['nothing.example.org', 22],
];

describe('parseKnownHosts', () => {
  it('reads entries with markers and line numbers, skipping junk', () => {
    const entries = parseKnownHosts(FIXTURE, '/kh');
    expect(entries.map((e) => [e.line, e.marker, e.hosts])).toEqual([
      [3, undefined, 'plain.example.org'],
      [4, undefined, '*.wild.org,!bad.wild.org'],
      [5, undefined, '[ported.example.org]:2222'],
      [6, undefined, 'h?.example.org,10.0.0.7'],
      [7, 'revoked', 'revoked.example.org'],
      [8, 'cert-authority', '*.example.org'],
      [9, undefined, 'multi.example.org'],
      [10, undefined, 'multi.example.org'],
    ]);
    expect(entries[0]?.key.equals(A.blob)).toBe(true);
    expect(entries[7]?.keyType).toBe('ecdsa-sha2-nistp256');
  });
});

describe('host matching', () => {
  it('globs like OpenSSH', () => {
    expect(globMatch('*.org', 'a.b.org')).toBe(true);
    expect(globMatch('h?', 'h1')).toBe(true);
    expect(globMatch('h?', 'h12')).toBe(false);
    expect(globMatch('*a*b*', 'xxaxxbxx')).toBe(true);
    expect(globMatch('*a*b', 'xxaxxbxxc')).toBe(false);
    expect(matchPatternList('!x.org', 'x.org')).toBe(false);
    expect(matchPatternList('!x.org', 'y.org')).toBe(false);
    expect(matchPatternList('*.org,!x.org', 'y.org')).toBe(true);
  });

  it('writes [host]:port for ports other than 22', () => {
    expect(knownHostName('Login.Example.ORG', 22)).toBe('login.example.org');
    expect(knownHostName('login', 2222)).toBe('[login]:2222');
  });

  const keygen = ((): string | undefined => {
    try {
      execFileSync('ssh-keygen', ['-?'], { stdio: 'ignore' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    }
    return 'ssh-keygen';
  })();

  it.skipIf(keygen === undefined)(
    'agrees with OpenSSH ssh-keygen -F on plain and hashed files',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'hpcj-kh-test-'));
      const plain = join(dir, 'plain');
      const hashed = join(dir, 'hashed');
      writeFileSync(plain, FIXTURE);
      // ssh-keygen -H refuses files with unparsable lines; give it the rest.
      writeFileSync(hashed, FIXTURE.replace('garbage line without a key\n', ''));
      execFileSync('ssh-keygen', ['-H', '-f', hashed], { stdio: 'ignore' });
      const hashedEntries = parseKnownHosts(readFileSync(hashed, 'utf8'), hashed);
      // ssh-keygen -H hashes every plain single-name line; wildcard lines stay as they are.
      expect(hashedEntries.some((e) => e.hosts.startsWith('|1|'))).toBe(true);
      for (const file of [plain, hashed]) {
        const entries = parseKnownHosts(readFileSync(file, 'utf8'), file).filter(
          (e) => e.marker !== 'cert-authority',
        );
        for (const [host, port] of QUERIES) {
          const query = knownHostName(host, port);
          let oracle = '';
          try {
            oracle = execFileSync('ssh-keygen', ['-F', query, '-f', file]).toString();
          } catch {
            // exit status 1: not found
          }
          const oracleKeys = oracle
            .split('\n')
            .filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('@cert-authority'))
            .map(
              (l) =>
                l
                  .trim()
                  .split(/\s+/)
                  .filter((f) => !f.startsWith('@'))[2] ?? '',
            );
          const ours = entries
            .filter((e) => entryMatchesHost(e, host, port))
            .map((e) => e.key.toString('base64'));
          expect(ours.sort(), `${file} ${query}`).toEqual(oracleKeys.sort());
        }
      }
    },
  );

  it('matches hashed names it wrote itself', () => {
    const line = `${hashHostName('[h]:2200')} ${A.line}`;
    const [entry] = parseKnownHosts(line, 'x');
    expect(entry).toBeDefined();
    if (entry === undefined) return;
    expect(entryMatchesHost(entry, 'h', 2200)).toBe(true);
    expect(entryMatchesHost(entry, 'H', 2200)).toBe(true);
    expect(entryMatchesHost(entry, 'h', 22)).toBe(false);
  });
});

describe('checkHostKey', () => {
  const entries = parseKnownHosts(FIXTURE, '/kh');

  it('knows a recorded key, including wildcard and ported entries', () => {
    expect(checkHostKey(entries, 'plain.example.org', 22, A.blob).kind).toBe('known');
    expect(checkHostKey(entries, 'x.wild.org', 22, A.blob).kind).toBe('known');
    expect(checkHostKey(entries, 'ported.example.org', 2222, B.blob).kind).toBe('known');
    expect(checkHostKey(entries, 'multi.example.org', 22, C.blob).kind).toBe('known');
  });

  it('calls a different key of the same type changed, with its line', () => {
    const v = checkHostKey(entries, 'plain.example.org', 22, B.blob);
    expect(v.kind).toBe('changed');
    if (v.kind === 'changed') expect([v.entry.file, v.entry.line]).toEqual(['/kh', 3]);
  });

  it('treats negated, port-mismatched and other-type keys as unknown, not changed', () => {
    expect(checkHostKey(entries, 'bad.wild.org', 22, B.blob).kind).toBe('unknown');
    expect(checkHostKey(entries, 'ported.example.org', 22, A.blob).kind).toBe('unknown');
    const other = checkHostKey(entries, 'plain.example.org', 22, C.blob);
    expect(other).toEqual({ kind: 'unknown', knownTypes: ['ssh-ed25519'] });
  });

  it('refuses a revoked key, and ignores cert-authority lines', () => {
    expect(checkHostKey(entries, 'revoked.example.org', 22, A.blob).kind).toBe('revoked');
    // B is only a CA key for *.example.org: that does not make it a known host key.
    expect(checkHostKey(entries, 'nothing.example.org', 22, B.blob).kind).toBe('unknown');
  });

  it('orders host-key algorithms by what is known', () => {
    expect(knownKeyTypes(entries, 'multi.example.org', 22)).toEqual([
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
    ]);
    expect(hostKeyAlgorithmOrder(['ecdsa-sha2-nistp256'])?.slice(0, 2)).toEqual([
      'ecdsa-sha2-nistp256',
      'ssh-ed25519',
    ]);
    expect(hostKeyAlgorithmOrder(['ssh-rsa'])?.[0]).toBe('rsa-sha2-512');
    expect(hostKeyAlgorithmOrder([])).toBeUndefined();
  });
});

describe('files', () => {
  it('prints fingerprints like ssh-keygen -l', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hpcj-kh-test-'));
    writeFileSync(join(dir, 'k.pub'), `${A.line}\n`);
    const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', join(dir, 'k.pub')]);
    expect(out.toString().split(' ')[1]).toBe(sha256Fingerprint(A.blob));
    expect(sha256Fingerprint(A.blob)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });

  it('appends with 0600 in a new 0700 directory, fixing a missing final newline', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'hpcj-kh-test-')), 'ssh');
    const file = join(dir, 'known_hosts');
    await appendKnownHost(file, 'Login.example.org', 2222, A.blob, { hash: false });
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    writeFileSync(file, readFileSync(file, 'utf8').trimEnd()); // drop the newline
    await appendKnownHost(file, 'other', 22, B.blob, { hash: true });
    const text = readFileSync(file, 'utf8');
    expect(text.split('\n')[0]).toBe(`[login.example.org]:2222 ${A.line}`);
    const entries = await loadKnownHosts([join(dir, 'missing'), file]);
    expect(entries).toHaveLength(2);
    expect(entries[1]?.hosts.startsWith('|1|')).toBe(true);
    expect(checkHostKey(entries, 'other', 22, B.blob).kind).toBe('known');
    expect(checkHostKey(entries, 'login.example.org', 2222, A.blob).kind).toBe('known');
  });
});
