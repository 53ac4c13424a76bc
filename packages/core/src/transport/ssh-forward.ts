/**
 * A local port forward: a listener on 127.0.0.1 whose connections are each carried over a
 * `direct-tcpip` channel to host:port as seen from the cluster. The listener asks for the current
 * SSH connection per accepted socket, so after a reconnect new sockets use the new connection.
 * A failing socket is closed alone; the listener stays up until `close()`.
 *
 * 127.0.0.1 is open to every user of this machine: a connection whose peer socket is not owned
 * by our own uid is closed before a byte is read or a channel opened. With `tls`, each channel
 * is wrapped in mutual TLS to the job's relay (see tls-upstream.ts).
 */

import { createServer, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

import { SshError, throwIfAborted } from '../errors.js';
import { refuseOtherUsers } from './peer-guard.js';
import type { SshConnection } from './ssh-connect.js';
import { coalesceWrites } from './ssh-write-coalesce.js';
import { tlsUpstream } from './tls-upstream.js';
import type { ForwardTls, PortForward } from './types.js';

export interface ForwardSpec {
  readonly remoteHost: string;
  readonly remotePort: number;
  readonly localPort: number;
  /** The live connection, reconnecting when needed. */
  readonly connection: () => Promise<SshConnection>;
  readonly host: string;
  readonly signal?: AbortSignal;
  readonly debug?: (message: string) => void;
  /** Called once after close(), so the transport can forget this forward. */
  readonly onClose?: () => void;
  /** Mutual TLS to the far end (a job's relay), inside the SSH channel. */
  readonly tls?: ForwardTls;
  /** The only uid whose connections are served (default: this process's). */
  readonly ownerUid?: number;
}

const LOOPBACK = '127.0.0.1';

export class LocalForward implements PortForward {
  readonly localHost = LOOPBACK;
  readonly remoteHost: string;
  readonly remotePort: number;
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    readonly localPort: number,
    private readonly spec: ForwardSpec,
  ) {
    this.remoteHost = spec.remoteHost;
    this.remotePort = spec.remotePort;
  }

  static async listen(spec: ForwardSpec): Promise<LocalForward> {
    throwIfAborted(spec.signal);
    if (!Number.isInteger(spec.remotePort) || spec.remotePort < 1 || spec.remotePort > 65535) {
      throw new SshError(`Invalid remote port ${spec.remotePort} to forward to.`, spec.host);
    }
    // noDelay: small writes (kernel messages) go out at once instead of waiting for an ACK.
    const server = createServer({ pauseOnConnect: true, noDelay: true });
    const port = await new Promise<number>((resolve, reject) => {
      server.once('error', (err) => {
        reject(
          new SshError(
            `Cannot listen on ${LOOPBACK}:${spec.localPort}: ${err.message}`,
            spec.host,
            {
              cause: err,
              hint: 'Choose another local port, or 0 for a free one.',
            },
          ),
        );
      });
      server.listen(spec.localPort, LOOPBACK, () => {
        const address = server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : spec.localPort);
      });
    });
    const forward = new LocalForward(server, port, spec);
    server.on('connection', (socket) => {
      forward.accept(socket);
    });
    server.on('error', (err) => spec.debug?.(`forward listener: ${err.message}`));
    return forward;
  }

  private accept(socket: Socket): void {
    if (this.closing !== undefined) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (err) => this.spec.debug?.(`forward socket: ${err.message}`));
    void refuseOtherUsers(socket, this.spec.debug, this.spec.ownerUid).then((own) => {
      if (own) this.connect(socket, true);
    });
  }

  /**
   * Opens the channel for one accepted socket. A socket accepted just as the connection died
   * gets one more try on a fresh connection: nothing was sent yet, so nothing can be repeated.
   */
  private connect(socket: Socket, mayRetry: boolean): void {
    const { remoteHost, remotePort } = this;
    this.spec.connection().then(
      (conn) => {
        if (socket.destroyed) return;
        conn.client.forwardOut(
          socket.remoteAddress ?? LOOPBACK,
          socket.remotePort ?? 0,
          remoteHost,
          remotePort,
          (err, stream) => {
            if (err) {
              if (mayRetry && conn.closed && !socket.destroyed) {
                this.connect(socket, false);
                return;
              }
              this.spec.debug?.(`forward to ${remoteHost}:${remotePort}: ${err.message}`);
              socket.destroy();
              return;
            }
            if (socket.destroyed) {
              stream.close();
              return;
            }
            stream.on('error', () => socket.destroy());
            stream.on('close', () => socket.destroy());
            socket.on('close', () => {
              stream.close();
            });
            let upstream: Duplex = stream;
            if (this.spec.tls !== undefined) {
              const secure = tlsUpstream(stream, this.spec.tls);
              secure.on('error', (e: Error) => {
                this.spec.debug?.(`forward to ${remoteHost}:${remotePort}: TLS: ${e.message}`);
                socket.destroy();
                stream.close();
              });
              secure.on('close', () => socket.destroy());
              upstream = secure;
            }
            // What the far end sent in one go (several TLS records or SSH packets read at once:
            // a kernel's status and output) reaches the client in one write, not one each.
            coalesceWrites(socket);
            socket.pipe(upstream).pipe(socket);
            socket.resume();
          },
        );
      },
      (err: unknown) => {
        this.spec.debug?.(`forward: no SSH connection: ${String(err)}`);
        socket.destroy();
      },
    );
  }

  /** Stops listening and ends every forwarded connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const s of this.sockets) s.destroy();
      this.sockets.clear();
      this.server.close(() => {
        resolve();
      });
      this.spec.onClose?.();
    });
    return this.closing;
  }
}
