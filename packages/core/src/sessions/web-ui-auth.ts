/**
 * Credentials for a session's web UIs (the Dask dashboard, the Spark master and application
 * UIs): which endpoints ask for them, and the `Authorization: Bearer <JWS>` value the agent's
 * proxy adds when it forwards a browser's request to one of them. The job makes one key per job
 * (`webui.key` in its 0600 session directory, see templates/python/hpc_jupyter/webui.py) and its
 * connection.json says only which endpoints need it (`ui_auth`), never the key. The key is read
 * through the cluster's transport on first use and kept in memory per session; what leaves the
 * agent is a token signed with it (HS256, as Spark's JWSFilter and the job's Dask guard check)
 * that expires within minutes, so one caught on the way (by whoever answers on a port the UI
 * left) is soon worth nothing, and the key itself never reaches a browser or an upstream.
 */
import { createHmac } from 'node:crypto';
import { HpcError, throwIfAborted } from '../errors.js';
import type { Transport } from '../transport/types.js';
import { readOptional, sessionFile } from './remote-files.js';
import type { SessionConnection, SessionRecord } from './types.js';

/** The job's web UI key, relative to its session directory (base64url text, 0600). */
export const WEB_UI_KEY_FILE = 'webui.key';
/** The only scheme a job's `ui_auth` may name. */
export const WEB_UI_AUTH_SCHEME = 'jws-hs256';
/** How long a token the proxy makes stays good. */
export const WEB_UI_TOKEN_SECONDS = 300;
/** jjwt (Spark's JWSFilter) refuses HS256 keys under 256 bits. */
const MIN_KEY_BYTES = 32;

const JWS_HEADER = base64url(Buffer.from(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));

function base64url(data: Buffer): string {
  return data.toString('base64url');
}

/**
 * A compact JWS, HS256 over the key (the raw bytes behind its base64url text), whose payload
 * holds only when it was made and when it expires. Pure: `nowSeconds` is the clock.
 */
export function signWebUiToken(
  key: Buffer,
  nowSeconds: number,
  ttlSeconds: number = WEB_UI_TOKEN_SECONDS,
): string {
  const iat = Math.floor(nowSeconds);
  const payload = base64url(Buffer.from(JSON.stringify({ iat, exp: iat + ttlSeconds })));
  const signingInput = `${JWS_HEADER}.${payload}`;
  const signature = base64url(createHmac('sha256', key).update(signingInput).digest());
  return `${signingInput}.${signature}`;
}

/** The key the job wrote (base64url text, a trailing newline allowed) as bytes. */
export function parseWebUiKey(text: string): Buffer {
  const trimmed = text.trim();
  if (!/^[A-Za-z0-9_-]+$/.test(trimmed)) {
    throw new HpcError(`The session's ${WEB_UI_KEY_FILE} is not base64url text.`, {
      hint: 'The job writes it when it starts; restart the session if the file was changed.',
    });
  }
  const key = Buffer.from(trimmed, 'base64url');
  if (key.length < MIN_KEY_BYTES) {
    throw new HpcError(`The session's ${WEB_UI_KEY_FILE} holds a key shorter than 256 bits.`, {
      hint: 'The job writes it when it starts; restart the session if the file was changed.',
    });
  }
  return key;
}

/** The endpoints whose requests must carry the session's token, from connection.json. */
export function webUiAuthEndpoints(connection: SessionConnection | undefined): ReadonlySet<string> {
  const auth = connection?.raw?.['ui_auth'];
  if (typeof auth !== 'object' || auth === null || Array.isArray(auth)) return new Set();
  const { scheme, endpoints } = auth as Record<string, unknown>;
  if (scheme !== WEB_UI_AUTH_SCHEME || !Array.isArray(endpoints)) return new Set();
  return new Set(endpoints.filter((e): e is string => typeof e === 'string'));
}

/** Reads and keeps each session's web UI key; makes the header for one request. */
export class WebUiCredentials {
  /** By session id and directory (a re-adopted job may move), the key's bytes. */
  private readonly keys = new Map<string, Promise<Buffer>>();

  constructor(private readonly now: () => number = () => Date.now() / 1000) {}

  /**
   * `Bearer <JWS>` for a request to `endpoint` of the session, or undefined when the endpoint
   * needs none. Throws (with what to do) when it needs one and the key cannot be read.
   */
  async authorization(
    record: SessionRecord,
    transport: Transport,
    endpoint: string,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    if (!webUiAuthEndpoints(record.connection).has(endpoint)) return undefined;
    const key = await this.key(record, transport, signal);
    return `Bearer ${signWebUiToken(key, this.now())}`;
  }

  /** Forgets a session's key (it ended, or was removed). */
  forget(id: string): void {
    for (const name of this.keys.keys()) {
      if (name.startsWith(`${id}\u0000`)) this.keys.delete(name);
    }
  }

  private key(record: SessionRecord, transport: Transport, signal?: AbortSignal): Promise<Buffer> {
    const dir = record.sessionDir;
    if (dir === undefined) {
      return Promise.reject(
        new HpcError(`Session ${record.id} has no session directory to read its UI key from.`),
      );
    }
    const name = `${record.id}\u0000${dir}`;
    let key = this.keys.get(name);
    if (key === undefined) {
      key = readKey(transport, sessionFile(dir, WEB_UI_KEY_FILE), record.id, signal);
      this.keys.set(name, key);
      // A failed read (the connection dropped, the job not done writing) is tried again later.
      key.catch(() => {
        if (this.keys.get(name) === key) this.keys.delete(name);
      });
    }
    return key;
  }
}

async function readKey(
  transport: Transport,
  file: string,
  id: string,
  signal?: AbortSignal,
): Promise<Buffer> {
  const data = await readOptional(transport, file, signal);
  throwIfAborted(signal);
  if (data === undefined) {
    throw new HpcError(`Session ${id}'s web UI asks for a key, but ${file} does not exist.`, {
      hint: 'The job writes it before its UIs start; see `hpc-jupyter logs ' + id + '`.',
    });
  }
  return parseWebUiKey(data.toString('utf8'));
}
