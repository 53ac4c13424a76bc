/**
 * Runs one already-quoted command on an open SSH connection: opens the exec channel, feeds stdin,
 * collects stdout/stderr as bytes (decoded once at the end, so multi-byte characters split across
 * packets survive), and reports the exit status. On cancellation it asks the server to KILL the
 * process and closes the channel; if the connection drops mid-command it says so instead of
 * pretending the command finished.
 */

import type { ClientChannel } from 'ssh2';

import { ConnectionLostError, SshError } from '../errors.js';
import { abortError } from './ssh-abort.js';
import { describeArgv } from './shell-quote.js';
import type { SshConnection } from './ssh-connect.js';
import type { RunResult } from './types.js';

/** The server refused to open a session channel: usually its MaxSessions is lower than ours. */
export class SessionRefusedError extends SshError {
  override readonly name = 'SessionRefusedError';
}

/**
 * The connection died before the session channel opened, so the command cannot have started:
 * unlike any later loss, this one is safe to retry on a new connection.
 */
export class NotStartedError extends ConnectionLostError {
  override readonly name = 'NotStartedError';
}

export interface ExecRequest {
  readonly argv: readonly string[];
  /** The quoted command line sent to the server. */
  readonly command: string;
  readonly stdin?: string | Uint8Array;
  readonly signal: AbortSignal;
}

/**
 * Opens the exec channel and hands it to `use` synchronously inside ssh2's callback: the exit
 * status can arrive in the same burst as the exec reply, and ssh2 emits it right away, so a
 * listener attached a microtask later would miss it.
 */
function openExec(
  conn: SshConnection,
  req: ExecRequest,
  host: string,
  use: (channel: ClientChannel) => Promise<RunResult>,
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    conn.client.exec(req.command, (err, channel) => {
      if (!err) {
        resolve(use(channel));
        return;
      }
      const e = err as Error & { reason?: number };
      // ssh2 says "Unable to exec" only once the channel is open and the exec request is out.
      if (conn.closed && e.message !== 'Unable to exec') {
        reject(
          new NotStartedError(
            `The SSH connection to ${host} dropped before the command started.`,
            host,
            {
              cause: err,
            },
          ),
        );
      } else if (conn.closed) {
        reject(lostError(conn, req, host, err));
      } else if (isChannelRefusal(e)) {
        reject(
          new SessionRefusedError(`${host} refused a new session: ${e.message}`, host, {
            cause: err,
          }),
        );
      } else {
        reject(
          new SshError(`Cannot start ${describeArgv(req.argv)} on ${host}: ${e.message}`, host, {
            cause: err,
          }),
        );
      }
    });
  });
}

function lostError(conn: SshConnection, req: ExecRequest, host: string, cause?: unknown) {
  return new ConnectionLostError(
    `The SSH connection to ${host} was lost while running ${describeArgv(req.argv)}; ` +
      'it may or may not have completed there.',
    host,
    {
      cause: cause ?? conn.error,
      hint: 'The next operation reconnects; check the command’s effect before running it again.',
    },
  );
}

/** The parts of ssh2's channel internals that `sendSignal` needs. */
interface ChannelInternals {
  readonly type?: string;
  readonly outgoing?: { readonly id: number; readonly state: string };
  readonly _client?: { readonly _protocol?: { signal(id: number, name: string): void } };
}

/**
 * Sends a `signal` channel request. ssh2's public `channel.signal()` is a no-op once our side has
 * sent EOF (we always close stdin), yet the remote process is still running then; so this goes to
 * the protocol object the same way that method does, falling back to it if ssh2 changes.
 */
export function sendSignal(channel: ClientChannel, name: string): void {
  const internals = channel as unknown as ChannelInternals;
  const protocol = internals._client?._protocol;
  const outgoing = internals.outgoing;
  try {
    const open = outgoing?.state === 'open' || outgoing?.state === 'eof';
    if (protocol !== undefined && outgoing !== undefined && open && internals.type === 'session') {
      protocol.signal(outgoing.id, name);
    } else {
      channel.signal(name);
    }
  } catch {
    // Servers without signal support (OpenSSH before 7.9) ignore it; the channel is closed anyway.
  }
}

/** Runs the request; resolves with the exit status, rejects on cancel or a lost connection. */
export async function execCommand(
  conn: SshConnection,
  req: ExecRequest,
  host: string,
): Promise<RunResult> {
  if (req.signal.aborted) throw abortError(req.signal);
  return openExec(conn, req, host, (channel) => collect(conn, req, host, channel));
}

/** Wires up one open exec channel; runs synchronously up to the returned promise. */
function collect(
  conn: SshConnection,
  req: ExecRequest,
  host: string,
  channel: ClientChannel,
): Promise<RunResult> {
  return new Promise<RunResult>((resolve, reject) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let code: number | null = null;
    let exited = false;
    let settled = false;

    const cleanup = (): void => {
      settled = true;
      req.signal.removeEventListener('abort', onAbort);
      unsubscribe();
    };
    const onAbort = (): void => {
      if (settled) return;
      cleanup();
      // Without a pty, closing the channel alone may leave the process running on the server.
      sendSignal(channel, 'KILL');
      channel.close();
      reject(abortError(req.signal));
    };
    const result = (): RunResult => ({
      code,
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: Buffer.concat(stderr).toString('utf8'),
    });
    const unsubscribe = conn.onLost(() => {
      if (settled) return;
      cleanup();
      // An exit status that already arrived means the command finished: its output is complete.
      if (exited) resolve(result());
      else reject(lostError(conn, req, host));
    });

    channel.on('data', (chunk: Buffer) => stdout.push(chunk));
    channel.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    channel.on('exit', (status: number | null) => {
      exited = true;
      code = typeof status === 'number' ? status : null;
    });
    channel.on('error', () => {
      // Followed by 'close'; the connection-level listener reports a real loss.
    });
    channel.on('close', () => {
      if (settled) return;
      if (!exited && conn.closed) {
        cleanup();
        reject(lostError(conn, req, host));
        return;
      }
      cleanup();
      resolve(result());
    });
    req.signal.addEventListener('abort', onAbort, { once: true });
    if (req.signal.aborted) {
      onAbort();
      return;
    }
    if (req.stdin === undefined) channel.end();
    else channel.end(typeof req.stdin === 'string' ? Buffer.from(req.stdin, 'utf8') : req.stdin);
  });
}

/** ssh2's error when the server refuses to open a channel (e.g. beyond its MaxSessions). */
export function isChannelRefusal(err: unknown): boolean {
  return err instanceof Error && /open failed|channel open failure/i.test(err.message);
}
