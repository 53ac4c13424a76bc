// The web UI token the agent signs: checked here against an independent HS256 verification and
// against the job's own verifier (templates/python/hpc_jupyter/webui.py, what the Dask guard
// runs); Spark's JWSFilter takes the same tokens in the e2e tier (second-user-webuis).
import { execFile } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Transport } from '../transport/types.js';
import type { SessionConnection, SessionRecord } from './types.js';
import {
  parseWebUiKey,
  signWebUiToken,
  WEB_UI_KEY_FILE,
  WEB_UI_TOKEN_SECONDS,
  webUiAuthEndpoints,
  WebUiCredentials,
} from './web-ui-auth.js';

const execFileP = promisify(execFile);
const PYTHON_PACKAGE = path.resolve(import.meta.dirname, '../../../../templates/python');

function decode(part: string): unknown {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

const connection = (uiAuth: unknown): SessionConnection => ({
  kind: 'spark',
  endpoints: [
    { name: 'master', host: '10.0.0.1', port: 7077 },
    { name: 'master-ui', host: '10.0.0.1', port: 8080 },
  ],
  raw: { kind: 'spark', ui_auth: uiAuth },
});

function record(conn: SessionConnection, sessionDir = '/home/u/.hpc-jupyter/s1'): SessionRecord {
  return { id: 's0123456789ab', sessionDir, connection: conn } as unknown as SessionRecord;
}

/** A transport that only reads files, from a map, counting reads. */
function filesTransport(files: Map<string, string>): { transport: Transport; reads: string[] } {
  const reads: string[] = [];
  const transport = {
    readFile: (file: string) => {
      reads.push(file);
      const text = files.get(file);
      if (text === undefined) {
        return Promise.reject(Object.assign(new Error(`no ${file}`), { code: 'ENOENT' }));
      }
      return Promise.resolve(Buffer.from(text));
    },
    exists: (file: string) => Promise.resolve(files.has(file)),
  } as unknown as Transport;
  return { transport, reads };
}

describe('signWebUiToken', () => {
  it('makes an HS256 compact JWS over the key, with iat and exp', () => {
    const key = randomBytes(32);
    const token = signWebUiToken(key, 1_700_000_000.7);
    const [header = '', payload = '', signature = ''] = token.split('.');
    expect(token.split('.')).toHaveLength(3);
    expect(decode(header)).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(decode(payload)).toEqual({
      iat: 1_700_000_000,
      exp: 1_700_000_000 + WEB_UI_TOKEN_SECONDS,
    });
    const expected = createHmac('sha256', key).update(`${header}.${payload}`).digest('base64url');
    expect(signature).toBe(expected);
    expect(token).not.toMatch(/[=+/]/);
    // Another key, another signature.
    expect(signWebUiToken(randomBytes(32), 1_700_000_000).split('.')[2]).not.toBe(signature);
  });

  it('is accepted by the job-side verifier, and refused once expired or with another key', async () => {
    const key = randomBytes(32);
    const keyText = key.toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const cases = {
      fresh: `Bearer ${signWebUiToken(key, now)}`,
      expired: `Bearer ${signWebUiToken(key, now - 2 * WEB_UI_TOKEN_SECONDS)}`,
      otherKey: `Bearer ${signWebUiToken(randomBytes(32), now)}`,
      noBearer: signWebUiToken(key, now),
    };
    const script = `import json, sys
from hpc_jupyter import webui
key, cases = sys.stdin.read().split("\\n", 1)
print(json.dumps({k: webui.verify(key, v) for k, v in json.loads(cases).items()}))`;
    const child = execFileP('python3', ['-c', script], {
      env: { ...process.env, PYTHONPATH: PYTHON_PACKAGE },
    });
    child.child.stdin?.end(`${keyText}\n${JSON.stringify(cases)}`);
    const { stdout } = await child;
    expect(JSON.parse(stdout)).toEqual({
      fresh: true,
      expired: false,
      otherKey: false,
      noBearer: false,
    });
  });
});

describe('parseWebUiKey', () => {
  it('takes base64url text of 256 bits or more, and refuses anything else', () => {
    const key = randomBytes(32);
    expect(parseWebUiKey(`${key.toString('base64url')}\n`).equals(key)).toBe(true);
    expect(() => parseWebUiKey(randomBytes(16).toString('base64url'))).toThrow(/256 bits/);
    expect(() => parseWebUiKey('not base64url!')).toThrow(/base64url/);
    expect(() => parseWebUiKey('')).toThrow(/base64url/);
  });
});

describe('webUiAuthEndpoints', () => {
  it('names the endpoints of a jws-hs256 ui_auth, and nothing for anything else', () => {
    expect([
      ...webUiAuthEndpoints(connection({ scheme: 'jws-hs256', endpoints: ['master-ui', 3] })),
    ]).toEqual(['master-ui']);
    expect(webUiAuthEndpoints(connection({ scheme: 'basic', endpoints: ['master-ui'] })).size).toBe(
      0,
    );
    expect(webUiAuthEndpoints(connection(undefined)).size).toBe(0);
    expect(webUiAuthEndpoints(connection(['master-ui'])).size).toBe(0);
    expect(webUiAuthEndpoints(undefined).size).toBe(0);
  });
});

describe('WebUiCredentials', () => {
  const key = randomBytes(32);
  const rec = record(connection({ scheme: 'jws-hs256', endpoints: ['master-ui'] }));
  const keyPath = `${rec.sessionDir ?? ''}/${WEB_UI_KEY_FILE}`;

  it('signs with the key read from the session directory once, only for listed endpoints', async () => {
    const { transport, reads } = filesTransport(
      new Map([[keyPath, `${key.toString('base64url')}\n`]]),
    );
    const credentials = new WebUiCredentials(() => 1_700_000_000);
    const value = await credentials.authorization(rec, transport, 'master-ui');
    expect(value).toBe(`Bearer ${signWebUiToken(key, 1_700_000_000)}`);
    await credentials.authorization(rec, transport, 'master-ui');
    expect(reads).toEqual([keyPath]);
    await expect(credentials.authorization(rec, transport, 'master')).resolves.toBeUndefined();
    credentials.forget(rec.id);
    await credentials.authorization(rec, transport, 'master-ui');
    expect(reads).toEqual([keyPath, keyPath]);
  });

  it('says what is wrong when the key is missing, and reads again next time', async () => {
    const files = new Map<string, string>();
    const { transport, reads } = filesTransport(files);
    const credentials = new WebUiCredentials();
    await expect(credentials.authorization(rec, transport, 'master-ui')).rejects.toThrow(
      /webui\.key does not exist/,
    );
    files.set(keyPath, key.toString('base64url'));
    await expect(credentials.authorization(rec, transport, 'master-ui')).resolves.toMatch(
      /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/,
    );
    expect(reads).toHaveLength(2);
  });
});
