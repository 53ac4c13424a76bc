/**
 * The bound ZeroMQ sockets the launcher needs (the only bound ZMTP sockets of the product), over
 * ZMTP connections of its own:
 * - a ROUTER (messages arrive with the sender's identity first; a message is sent to the
 *   connection its first frame names, or dropped), a PUB (to every connection subscribed to a
 *   prefix of the first frame), a REP (one reply per request, on the connection it came from);
 * - who may connect: over TCP only sockets of this process's uid, looked up in /proc/net/tcp
 *   before a byte of ZMTP is sent (a port on 127.0.0.1 is open to every user of the machine);
 *   over ipc:// a socket file only this uid can open (zmtp-ipc.ts);
 * - a routing id is never handed from a live connection to a newcomer: a second peer announcing
 *   the id of a connected one is refused until that one is gone (libzmq's ROUTER without
 *   ZMQ_ROUTER_HANDOVER ignores the newcomer for good; ours may try again, so a client
 *   reconnecting after its old connection died gets its id back);
 * - bounded: per connection at most HIGH_WATER_MARK messages or MAX_BACKLOG_BYTES waiting to be
 *   sent, beyond which messages for it are dropped (libzmq's PUB and ROUTER drop at their
 *   high-water mark too), so a peer that never reads costs a bounded amount and never slows the
 *   others; at most MAX_SUBSCRIPTIONS topic prefixes per subscriber.
 * The connecting DEALER and SUB are in zmtp-connector.ts.
 */
import { randomInt } from 'node:crypto';
import { type Server, type Socket, createServer } from 'node:net';
import { loopbackPeerUid } from '../util/loopback-peer.js';
import { LogLimiter } from './log-limiter.js';
import { ZmtpConnection } from './zmtp-connection.js';
import { parseEndpoint } from './zmtp-endpoint.js';
import { listenIpc, unlinkIpc } from './zmtp-ipc.js';
import { MAX_COMMAND_BYTES, ZmtpProtocolError } from './zmtp.js';

export { LINGER_MS, parseEndpoint, type ZmtpEndpoint } from './zmtp-endpoint.js';
export { ZmtpConnector, type ZmtpConnectorOptions } from './zmtp-connector.js';

/** Messages waiting for one peer beyond which more are dropped (libzmq's default SNDHWM). */
export const HIGH_WATER_MARK = 1000;
/**
 * Bytes waiting for one peer beyond which more are dropped. A message is taken whenever less
 * than this is waiting, so a client that keeps up gets any message up to the 1 GiB a message may
 * have; a client 32 MiB behind is not reading (a local Jupyter reads output as fast as the kernel
 * makes it), and what it misses then is output, as with libzmq's PUB.
 */
export const MAX_BACKLOG_BYTES = 32 * 1024 * 1024;
/** Distinct topic prefixes one subscriber may hold (Jupyter clients subscribe to one: ''). */
export const MAX_SUBSCRIPTIONS = 1000;

export type BoundType = 'ROUTER' | 'PUB' | 'REP';

export interface ZmtpServerOptions {
  readonly type: BoundType;
  /**
   * ROUTER: a message, the sender's identity first. REP: a request (its envelope included), and
   * `reply` to answer on the same connection. PUB: never called.
   */
  readonly onMessage?: (frames: Buffer[], reply: (frames: readonly Buffer[]) => void) => void;
  /**
   * Who may connect over TCP: the uid whose sockets are let in (default: this process's), or
   * 'anyone' (no check; nothing in the product binds that way).
   */
  readonly peerUid?: number | 'anyone';
  /** Refusals, drops and connections closed for a reason. Default: stderr, as the launcher's. */
  readonly log?: (line: string) => void;
  /** Overrides for tests: HIGH_WATER_MARK, MAX_BACKLOG_BYTES, and the connection's bounds. */
  readonly highWaterMark?: number;
  readonly maxBacklogBytes?: number;
  readonly handshakeMs?: number;
  readonly maxMessageBytes?: number;
  readonly maxFrames?: number;
}

function stderrLog(line: string): void {
  process.stderr.write(`[hpc-jupyter kernel] ${line}\n`);
}

export class ZmtpServer {
  private readonly connections = new Set<ZmtpConnection>();
  /** ROUTER: connection by identity (latin1 of its bytes). */
  private readonly routes = new Map<string, ZmtpConnection>();
  /** PUB: each connection's subscriptions, prefix (latin1) -> count. */
  private readonly subscriptions = new Map<ZmtpConnection, Map<string, number>>();
  private nextIdentity = randomInt(0x7fffffff);
  private closing = false;
  private readonly log: LogLimiter;
  private readonly highWaterMark: number;
  private readonly maxBacklogBytes: number;

  private constructor(
    private readonly server: Server,
    private readonly endpoint: string,
    private readonly options: ZmtpServerOptions,
    /** ipc: the inode of our socket file, removed on close. */
    private readonly ipcInode?: number,
  ) {
    this.log = new LogLimiter(options.log ?? stderrLog);
    this.highWaterMark = options.highWaterMark ?? HIGH_WATER_MARK;
    this.maxBacklogBytes = options.maxBacklogBytes ?? MAX_BACKLOG_BYTES;
    server.on('connection', (socket: Socket) => {
      void this.admitSocket(socket);
    });
  }

  /** Listens on `endpoint`; rejects with the listen error (its `code`, e.g. EADDRINUSE). */
  static async bind(endpoint: string, options: ZmtpServerOptions): Promise<ZmtpServer> {
    const where = parseEndpoint(endpoint);
    const server = createServer({ noDelay: true });
    if (where.transport === 'ipc') {
      const inode = await listenIpc(server, where.path);
      return new ZmtpServer(server, endpoint, options, inode);
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: where.host, port: where.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new ZmtpServer(server, endpoint, options);
  }

  /** ROUTER: to the connection named by the first frame. PUB: to every subscriber. */
  send(frames: readonly Buffer[]): void {
    if (this.options.type === 'ROUTER') {
      const [identity, ...rest] = frames;
      if (identity === undefined) return;
      const connection = this.routes.get(identity.toString('latin1'));
      if (connection !== undefined) this.sendTo(connection, rest);
      return;
    }
    const topic = frames[0] ?? Buffer.alloc(0);
    for (const [connection, prefixes] of this.subscriptions) {
      for (const prefix of prefixes.keys()) {
        if (startsWith(topic, prefix)) {
          this.sendTo(connection, frames);
          break;
        }
      }
    }
  }

  /** Resolves once everything sent so far is handed to the operating system. */
  async flushed(): Promise<void> {
    await Promise.all([...this.connections].map((c) => c.flushed()));
  }

  /** Stops listening; open connections still send what they have for at most `lingerMs`. */
  close(lingerMs = 0): void {
    if (this.closing) return;
    this.closing = true;
    this.server.close();
    const where = parseEndpoint(this.endpoint);
    if (where.transport === 'ipc' && this.ipcInode !== undefined) {
      unlinkIpc(where.path, this.ipcInode);
    }
    for (const connection of this.connections) connection.close(lingerMs);
  }

  /** Sends unless the peer is past the high-water mark (then the message is dropped for it). */
  private sendTo(connection: ZmtpConnection, frames: readonly Buffer[]): void {
    if (
      connection.backlogMessages >= this.highWaterMark ||
      connection.backlog >= this.maxBacklogBytes
    ) {
      this.log.line(
        'drop',
        `${this.endpoint}: a peer is not reading (${connection.backlogMessages} messages, ` +
          `${connection.backlog} bytes waiting): dropped a message for it, as libzmq does at its ` +
          'high-water mark',
      );
      return;
    }
    connection.send(frames);
  }

  /** Lets the socket speak ZMTP only when its peer is our own uid (TCP) or could open the file. */
  private async admitSocket(socket: Socket): Promise<void> {
    // Until the ZmtpConnection takes the socket over: a reset while we look is not a crash.
    const ignore = (): void => undefined;
    socket.on('error', ignore);
    const allowed = this.options.peerUid ?? process.getuid?.() ?? -1;
    if (allowed !== 'anyone' && socket.remotePort !== undefined) {
      const uid = await loopbackPeerUid(socket);
      if (uid !== allowed) {
        const who =
          uid === undefined
            ? 'a socket whose owner is unknown (not on this machine, or gone)'
            : `uid ${uid}`;
        this.log.line(
          'refused-uid',
          `${this.endpoint}: refused a connection from ${who} (only uid ${allowed} may connect)`,
        );
        socket.destroy();
        return;
      }
    }
    socket.off('error', ignore);
    if (this.closing || socket.destroyed) {
      socket.destroy();
      return;
    }
    this.accept(socket);
  }

  private accept(socket: Socket): void {
    /** ROUTER: the peer's identity, and its key in `routes`. */
    let route: { readonly identity: Buffer; readonly key: string } | undefined;
    const connection: ZmtpConnection = new ZmtpConnection(socket, {
      type: this.options.type,
      ...connectionBounds(this.options),
      ...(this.options.type === 'ROUTER'
        ? {
            admit: (peer) => {
              const key = peer.identity.toString('latin1');
              if (peer.identity.length === 0 || !this.routes.has(key)) return undefined;
              return `the routing id ${JSON.stringify(key)} belongs to a connected peer`;
            },
          }
        : {}),
      onReady: (peer) => {
        if (this.options.type === 'ROUTER') {
          const identity = peer.identity.length > 0 ? peer.identity : this.generatedIdentity();
          route = { identity, key: identity.toString('latin1') };
          this.routes.set(route.key, connection);
        } else if (this.options.type === 'PUB') {
          this.subscriptions.set(connection, new Map());
        }
      },
      onMessage: (frames) => {
        if (route !== undefined) {
          this.options.onMessage?.([route.identity, ...frames], () => undefined);
        } else {
          this.options.onMessage?.(frames, (reply) => {
            this.sendTo(connection, reply);
          });
        }
      },
      onSubscription: (topic, subscribe) => {
        this.subscribe(connection, topic, subscribe);
      },
      onClose: (error) => {
        this.connections.delete(connection);
        this.subscriptions.delete(connection);
        if (route !== undefined && this.routes.get(route.key) === connection) {
          this.routes.delete(route.key);
        }
        if (error instanceof ZmtpProtocolError) {
          // One kind per reason, whatever its numbers: a 2^62-byte frame and endless frames are
          // both told, but a peer that varies the size gets no more lines.
          const kind = error.message.replace(/\d+/g, 'N');
          this.log.line(kind, `${this.endpoint}: closed a connection: ${error.message}`);
        }
      },
    });
    this.connections.add(connection);
  }

  private subscribe(connection: ZmtpConnection, topic: Buffer, subscribe: boolean): void {
    const prefixes = this.subscriptions.get(connection);
    if (prefixes === undefined) return;
    const key = topic.toString('latin1');
    if (subscribe && !prefixes.has(key)) {
      if (topic.length > MAX_COMMAND_BYTES || prefixes.size >= MAX_SUBSCRIPTIONS) {
        this.log.line(
          'subscriptions',
          `${this.endpoint}: closed a subscriber past ${MAX_SUBSCRIPTIONS} topics or a topic ` +
            `of more than ${MAX_COMMAND_BYTES} bytes`,
        );
        connection.close();
        return;
      }
    }
    const count = (prefixes.get(key) ?? 0) + (subscribe ? 1 : -1);
    if (count > 0) prefixes.set(key, count);
    else prefixes.delete(key);
  }

  /** An identity for a peer that sent none: a zero byte and a number, as libzmq makes them. */
  private generatedIdentity(): Buffer {
    const id = Buffer.alloc(5);
    id.writeUInt32BE(this.nextIdentity, 1);
    this.nextIdentity = (this.nextIdentity + 1) >>> 0;
    return id;
  }
}

function startsWith(topic: Buffer, prefix: string): boolean {
  if (prefix.length === 0) return true;
  if (topic.length < prefix.length) return false;
  return topic.subarray(0, prefix.length).toString('latin1') === prefix;
}

/** The connection bounds among the options that are set (tests lower them). */
function connectionBounds(
  options: ZmtpServerOptions,
): Pick<ZmtpServerOptions, 'handshakeMs' | 'maxMessageBytes' | 'maxFrames'> {
  const { handshakeMs, maxMessageBytes, maxFrames } = options;
  return {
    ...(handshakeMs === undefined ? {} : { handshakeMs }),
    ...(maxMessageBytes === undefined ? {} : { maxMessageBytes }),
    ...(maxFrames === undefined ? {} : { maxFrames }),
  };
}
