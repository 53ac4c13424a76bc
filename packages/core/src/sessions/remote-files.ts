/**
 * The files of a session directory on the cluster, read through the transport: optional files
 * (a missing connection.json only means "not ready yet"), the tail of the job's log, read with
 * `tail` on the cluster so a large log never crosses the connection whole, and the TLS files a
 * forward to the job's relay authenticates with.
 */
import { posix } from 'node:path';
import { HpcError, throwIfAborted } from '../errors.js';
import type { ForwardTls, Transport } from '../transport/types.js';
import type { EndpointTls } from './types.js';

/** Names of the files in a session directory. */
export const SESSION_FILES = {
  connection: 'connection.json',
  log: 'job.log',
  env: 'job.env',
  /** What was asked (template, params, title): no secret; lets another agent adopt the job. */
  session: 'session.json',
} as const;

/** At most this much of a log is kept or returned, whatever the line count. */
export const LOG_TAIL_MAX_CHARS = 64 * 1024;
/** What a final record keeps of the log. */
export const RECORD_LOG_LINES = 40;
const RECORD_LOG_MAX_CHARS = 8 * 1024;

export function sessionFile(sessionDir: string, name: string): string {
  return posix.join(sessionDir, name);
}

/** The file's content, or undefined when it does not exist. */
export async function readOptional(
  transport: Transport,
  file: string,
  signal?: AbortSignal,
): Promise<Buffer | undefined> {
  try {
    return await transport.readFile(file, signal ? { signal } : {});
  } catch (error) {
    if (isMissing(error)) return undefined;
    throwIfAborted(signal);
    // Transports wrap their errors differently (SFTP status codes, errno): ask plainly.
    if (!(await transport.exists(file, signal ? { signal } : {}))) return undefined;
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  for (let e: unknown = error; e !== undefined && e !== null; e = (e as Error).cause) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 2) return true;
    if (typeof e !== 'object') break;
  }
  return false;
}

/**
 * The last `lines` lines of a file on the cluster ('' when it does not exist yet), at most
 * LOG_TAIL_MAX_CHARS. Uses `tail` there; falls back to reading the file if `tail` fails.
 */
export async function tailFile(
  transport: Transport,
  file: string,
  lines: number,
  signal?: AbortSignal,
): Promise<string> {
  const n = Math.max(1, Math.min(100_000, Math.floor(lines)));
  let text: string | undefined;
  try {
    const result = await transport.run(['tail', '-n', String(n), '--', file], {
      timeout: 30_000,
      ...(signal ? { signal } : {}),
    });
    if (result.code === 0) text = result.stdout;
  } catch {
    // `tail` missing or refused: read the file instead.
    throwIfAborted(signal);
  }
  if (text === undefined) {
    const data = await readOptional(transport, file, signal);
    if (data === undefined) return '';
    text = lastLines(data.subarray(Math.max(0, data.length - LOG_TAIL_MAX_CHARS)).toString(), n);
  }
  return text.length > LOG_TAIL_MAX_CHARS ? text.slice(text.length - LOG_TAIL_MAX_CHARS) : text;
}

export function lastLines(text: string, n: number): string {
  const lines = text.split('\n');
  const trailing = text.endsWith('\n') ? 1 : 0;
  const keep = lines.slice(Math.max(0, lines.length - n - trailing));
  return keep.join('\n');
}

/** The log tail a final record keeps: best effort, never an error. */
export async function recordLogTail(
  transport: Transport,
  sessionDir: string,
  signal?: AbortSignal,
): Promise<string | undefined> {
  try {
    const text = await tailFile(
      transport,
      sessionFile(sessionDir, SESSION_FILES.log),
      RECORD_LOG_LINES,
      signal,
    );
    if (text === '') return undefined;
    return text.length > RECORD_LOG_MAX_CHARS
      ? text.slice(text.length - RECORD_LOG_MAX_CHARS)
      : text;
  } catch {
    return undefined;
  }
}

/**
 * The session's CA, certificate and key for an endpoint behind the job's TLS relay, read from
 * the session directory into memory (nothing is written on this machine), with the name the
 * relay's certificate must carry. The file names come from connection.json, checked there to
 * stay inside the session directory.
 */
export async function readRelayTls(
  transport: Transport,
  sessionDir: string,
  tls: EndpointTls,
  signal?: AbortSignal,
): Promise<ForwardTls> {
  const read = async (file: string): Promise<Buffer> => {
    const at = posix.join(sessionDir, file);
    try {
      return await transport.readFile(at, signal ? { signal } : {});
    } catch (error) {
      throwIfAborted(signal);
      throw new HpcError(`Cannot read the session's TLS file ${at}.`, {
        cause: error,
        hint: 'The job writes it before it is ready; check the session with `hpc-jupyter logs ID`.',
      });
    }
  };
  const [ca, cert, key] = await Promise.all([
    read(tls.caFile),
    read(tls.certFile),
    read(tls.keyFile),
  ]);
  return { ca, cert, key, serverName: tls.serverName };
}
