/**
 * Opens one authenticated SSH connection to a resolved route: each ProxyJump hop in turn (host
 * key checked, logged in), a `direct-tcpip` channel from it to the next, and finally the target
 * over that channel. Owns the connect timeout (paused while a prompt waits for the user) and the
 * translation of ssh2's errors into our typed ones.
 */

import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import ssh2 from 'ssh2';
import type { ClientChannel, Client as Ssh2Client, ConnectConfig } from 'ssh2';

import { AbortedError, SshError, TimeoutError } from '../errors.js';
import { LoginConversation } from './auth.js';
import { verifyHostKey } from './host-key-verifier.js';
import { hostKeyAlgorithmOrder, knownKeyTypes, loadKnownHosts } from './known-hosts.js';
import type { ResolvedHost, ResolvedRoute } from './ssh-config.js';
import type { SshPrompter } from './ssh-options.js';
import { coalesceWrites } from './ssh-write-coalesce.js';

const { Client } = ssh2;

export interface ConnectContext {
  readonly homeDir: string;
  readonly prompter: SshPrompter | undefined;
  readonly agentSocket: string | undefined;
  readonly accepted: Map<string, Buffer[]>;
  /** Fires when the transport closes: abandons prompts and half-open connections. */
  readonly signal: AbortSignal;
  readonly debug?: (message: string) => void;
}

/** A live, authenticated chain of clients; the last one talks to the target. */
export class SshConnection {
  private lost = false;
  private lastError: Error | undefined;
  private readonly lostListeners = new Set<() => void>();

  constructor(
    readonly client: Ssh2Client,
    private readonly hops: readonly Ssh2Client[],
  ) {
    for (const c of [client, ...hops]) {
      // An unhandled 'error' would crash the process; the close that follows is what matters.
      c.on('error', (err: Error) => {
        this.lastError = err;
        this.markLost();
      });
      c.on('end', () => {
        this.markLost();
      });
      c.on('close', () => {
        this.markLost();
      });
    }
  }

  /** True once any link of the chain has ended: no new channel can be opened on it. */
  get closed(): boolean {
    return this.lost;
  }

  get error(): Error | undefined {
    return this.lastError;
  }

  /** Calls `fn` once when the connection is lost (at once if it already is); returns an unsubscriber. */
  onLost(fn: () => void): () => void {
    if (this.lost) {
      queueMicrotask(fn);
      return () => undefined;
    }
    this.lostListeners.add(fn);
    return () => this.lostListeners.delete(fn);
  }

  end(): void {
    this.markLost();
    for (const c of [this.client, ...[...this.hops].reverse()]) c.end();
  }

  private markLost(): void {
    if (this.lost) return;
    this.lost = true;
    for (const fn of [...this.lostListeners]) fn();
    this.lostListeners.clear();
  }
}

function where(host: ResolvedHost): string {
  return `${host.user}@${host.hostname}:${host.port}`;
}

/** Connects the whole route; on failure every hop already connected is closed again. */
export async function openConnection(
  route: ResolvedRoute,
  ctx: ConnectContext,
): Promise<SshConnection> {
  const hops: Ssh2Client[] = [];
  try {
    let sock: Duplex | undefined;
    const all = [...route.jumps, route.target];
    for (let i = 0; i < all.length; i++) {
      const host = all[i];
      if (host === undefined) continue;
      const via = i > 0 ? all[i - 1] : undefined;
      const client = await connectOne(host, sock, via, ctx);
      const next = all[i + 1];
      if (next === undefined) return new SshConnection(client, hops);
      noDelayOnServer(client);
      hops.push(client);
      sock = await forwardTo(client, host, next);
    }
    throw new Error('unreachable: empty route');
  } catch (err) {
    for (const c of hops.reverse()) c.end();
    throw err;
  }
}

/**
 * Gets a jump host's sshd to turn off Nagle on its side of the connection. OpenSSH sets
 * TCP_NODELAY there only when a session first runs a command or shell
 * (ssh_packet_set_interactive), so a connection that only forwards, as a jump host's does, keeps
 * Nagle: of a kernel's burst of small messages, sshd holds the second until we ACK the first, and
 * our side delays that ACK by up to 40 ms (measured: p99 of a kernel round trip 48 ms instead of
 * 10 ms). One `true` right after login sets it for the connection's life. (The login node runs
 * our commands anyway.) Best effort and not waited for: a host that refuses commands keeps Nagle,
 * and a ForceCommand that reads its input gets end-of-file at once and 10 s at most.
 */
function noDelayOnServer(client: Ssh2Client): void {
  const started = (err: Error | undefined, stream: ClientChannel): void => {
    if (err) return;
    const timer = setTimeout(() => {
      stream.close();
    }, 10_000);
    timer.unref();
    stream.on('close', () => {
      clearTimeout(timer);
    });
    stream.resume();
    stream.stderr.resume();
    stream.end();
  };
  try {
    client.exec('true', started);
  } catch {
    // The connection closed already: whoever uses it will find out.
  }
}

function forwardTo(client: Ssh2Client, hop: ResolvedHost, next: ResolvedHost): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    client.forwardOut('127.0.0.1', 0, next.hostname, next.port, (err, stream) => {
      if (!err) {
        resolve(stream);
        return;
      }
      reject(
        new SshError(
          `Jump host ${hop.hostname} could not open a connection to ${next.hostname}:${next.port}: ${err.message}.`,
          next.hostname,
          { cause: err, hint: 'Check HostName and Port of the target as seen from the jump host.' },
        ),
      );
    });
  });
}

async function connectOne(
  host: ResolvedHost,
  sock: Duplex | undefined,
  via: ResolvedHost | undefined,
  ctx: ConnectContext,
): Promise<Ssh2Client> {
  const entries = await loadKnownHosts(
    [...host.userKnownHostsFiles, ...host.globalKnownHostsFiles],
    ctx.signal,
  );
  const hostKeyOrder = hostKeyAlgorithmOrder(
    knownKeyTypes(entries, host.knownHostsName, host.port),
  );
  const client = new Client();
  const label = via === undefined ? where(host) : `${where(host)} (via ${via.hostname})`;

  return new Promise<Ssh2Client>((resolve, reject) => {
    let settled = false;
    let hostKeyFailure: Error | undefined;
    let timer: NodeJS.Timeout | undefined;
    let prompts = 0;

    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      ctx.signal.removeEventListener('abort', onAbort);
      return true;
    };
    const succeed = (): void => {
      if (settle()) resolve(client);
    };
    const finish = (err: Error): void => {
      if (!settle()) return;
      client.removeAllListeners('ready');
      client.on('error', () => undefined);
      client.destroy();
      reject(err);
    };
    const arm = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = setTimeout(() => {
        finish(
          new TimeoutError(
            `Connecting to ${label} timed out after ${host.connectTimeoutMs / 1000} s.`,
            {
              hint: 'Check the host name, port and network (VPN?), or raise ConnectTimeout.',
            },
          ),
        );
      }, host.connectTimeoutMs);
    };
    const promptStarted = (): void => {
      prompts++;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const promptEnded = (): void => {
      prompts--;
      if (prompts === 0 && !settled) arm();
    };
    const onAbort = (): void => {
      finish(
        new AbortedError('The SSH connection attempt was cancelled.', { cause: ctx.signal.reason }),
      );
    };
    if (ctx.signal.aborted) {
      onAbort();
      return;
    }
    ctx.signal.addEventListener('abort', onAbort, { once: true });

    const login = new LoginConversation({
      host,
      homeDir: ctx.homeDir,
      prompter: ctx.prompter,
      agentSocket: ctx.agentSocket,
      signal: ctx.signal,
      promptStarted,
      promptEnded,
    });

    client.on('ready', () => {
      succeed();
    });
    client.on('error', (err: Error & { level?: string }) => {
      if (hostKeyFailure !== undefined) finish(hostKeyFailure);
      else if (err.level === 'client-authentication') finish(login.failure(err));
      else finish(translate(err, host, label));
    });
    client.on('close', () => {
      finish(
        hostKeyFailure ??
          new SshError(`The SSH connection to ${label} closed during login.`, host.hostname, {
            hint: 'The server may limit connections (MaxStartups) or reject this client; try `ssh` directly.',
          }),
      );
    });

    const own = sock === undefined ? new Socket() : undefined;
    const carrier: Duplex = own ?? (sock as Duplex);
    if (own === undefined) coalesceWrites(carrier);
    const config: ConnectConfig = {
      host: host.hostname,
      port: host.port,
      username: host.user,
      readyTimeout: 0, // our own timer, which stops while the user answers a prompt
      keepaliveInterval: host.keepaliveSeconds * 1000,
      keepaliveCountMax: host.keepaliveCountMax,
      hostVerifier: (key: Buffer, verify: (valid: boolean) => void) => {
        verifyHostKey(key, host, { ...ctx, promptStarted, promptEnded }).then(
          () => {
            if (!settled) verify(true);
          },
          (err: unknown) => {
            hostKeyFailure = err instanceof Error ? err : new SshError(String(err), host.hostname);
            // After a timeout or abort the client is already destroyed: nothing left to refuse.
            if (!settled) verify(false);
          },
        );
      },
      authHandler: login.handler,
      ...(hostKeyOrder === undefined ? {} : { algorithms: { serverHostKey: hostKeyOrder } }),
      sock: carrier,
      ...(ctx.debug === undefined ? {} : { debug: ctx.debug }),
    } as ConnectConfig;
    arm();
    try {
      if (own !== undefined) {
        // Our own socket, not one ssh2 makes, so that its writes can be coalesced (see
        // ssh-write-coalesce.ts). ssh2 waits for its 'connect' and reports its errors as
        // 'client-socket', as for a socket of its own.
        own.setMaxListeners(0);
        own.connect({ host: host.hostname, port: host.port });
        // After connect(), which puts back the prototype's write() of a reused socket.
        coalesceWrites(own);
      }
      client.connect(config);
      // Kernel messages are a few small writes each: without TCP_NODELAY, Nagle holds the next
      // one until the server's delayed ACK (about 40 ms) on every round trip. (No effect when
      // the connection runs inside a ProxyJump channel rather than a socket.)
      client.setNoDelay(true);
    } catch (err) {
      finish(
        new SshError(`Cannot start SSH connection to ${label}: ${String(err)}`, host.hostname, {
          cause: err,
        }),
      );
    }
  });
}

function translate(
  err: Error & { level?: string; code?: string },
  host: ResolvedHost,
  label: string,
): SshError {
  if (err.level === 'client-socket') {
    const code = err.code ?? err.message;
    return new SshError(`Cannot connect to ${label}: ${code}.`, host.hostname, {
      cause: err,
      hint:
        code === 'ENOTFOUND'
          ? `The host name ${host.hostname} does not resolve; check HostName in ~/.ssh/config.`
          : 'Check the host name, port and network (VPN?); is sshd running there?',
    });
  }
  return new SshError(`SSH connection to ${label} failed: ${err.message}`, host.hostname, {
    cause: err,
  });
}
