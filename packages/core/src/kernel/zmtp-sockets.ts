/**
 * The ZeroMQ socket behaviours the launcher needs, over ZMTP connections of its own:
 * - a bound ROUTER (messages arrive with the sender's identity first; a message is sent to the
 *   connection its first frame names, or dropped; a new connection with an identity already in
 *   use takes the route over), a bound PUB (to every connection subscribed to a prefix of the
 *   first frame), a bound REP (one reply per request, on the connection it came from);
 * - a connecting DEALER or SUB that connects again 100 ms after a connection ends, as libzmq
 *   does, and holds what is sent meanwhile (up to 1000 messages, libzmq's default high-water
 *   mark).
 * TCP (`tcp://host:port`) and Unix sockets (`ipc://path`), as in Jupyter connection files.
 */
import { randomInt } from 'node:crypto';
import { lstatSync, unlinkSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import { ZmtpConnection } from './zmtp-connection.js';

export type ZmtpEndpoint =
  | { readonly transport: 'tcp'; readonly host: string; readonly port: number }
  | { readonly transport: 'ipc'; readonly path: string };

export function parseEndpoint(endpoint: string): ZmtpEndpoint {
  if (endpoint.startsWith('ipc://')) return { transport: 'ipc', path: endpoint.slice(6) };
  const tcp = /^tcp:\/\/(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(endpoint);
  if (tcp === null) throw new Error(`not a ZeroMQ tcp:// or ipc:// address: ${endpoint}`);
  const host = tcp[1] ?? tcp[2] ?? '';
  return { transport: 'tcp', host: host === '*' ? '0.0.0.0' : host, port: Number(tcp[3]) };
}

/** How long what is still unsent at close keeps going out (the linger Jupyter's sockets use). */
export const LINGER_MS = 1000;
const RECONNECT_MS = 100;
const MAX_QUEUED = 1000;
/** A subscriber this far behind misses messages instead of growing this process without end. */
const MAX_SUBSCRIBER_BACKLOG = 256 * 1024 * 1024;

export type BoundType = 'ROUTER' | 'PUB' | 'REP';

export interface ZmtpServerOptions {
  readonly type: BoundType;
  /**
   * ROUTER: a message, the sender's identity first. REP: a request (its envelope included), and
   * `reply` to answer on the same connection. PUB: never called.
   */
  readonly onMessage?: (frames: Buffer[], reply: (frames: readonly Buffer[]) => void) => void;
}

export class ZmtpServer {
  private readonly connections = new Set<ZmtpConnection>();
  /** ROUTER: connection by identity (latin1 of its bytes). */
  private readonly routes = new Map<string, ZmtpConnection>();
  /** PUB: each connection's subscriptions, prefix (latin1) -> count. */
  private readonly subscriptions = new Map<ZmtpConnection, Map<string, number>>();
  private nextIdentity = randomInt(0x7fffffff);
  private closing = false;

  private constructor(
    private readonly server: Server,
    private readonly options: ZmtpServerOptions,
  ) {
    server.on('connection', (socket: Socket) => {
      this.accept(socket);
    });
  }

  /** Listens on `endpoint`; rejects with the listen error (its `code`, e.g. EADDRINUSE). */
  static async bind(endpoint: string, options: ZmtpServerOptions): Promise<ZmtpServer> {
    const where = parseEndpoint(endpoint);
    const server = createServer({ noDelay: true });
    const listen = (): Promise<void> =>
      new Promise((resolve, reject) => {
        server.once('error', reject);
        const done = (): void => {
          server.off('error', reject);
          resolve();
        };
        if (where.transport === 'ipc') server.listen(where.path, done);
        else server.listen({ host: where.host, port: where.port, exclusive: true }, done);
      });
    try {
      await listen();
    } catch (error) {
      if (where.transport !== 'ipc' || !(await removeStaleSocket(error, where.path))) throw error;
      await listen();
    }
    return new ZmtpServer(server, options);
  }

  /** ROUTER: to the connection named by the first frame. PUB: to every subscriber. */
  send(frames: readonly Buffer[]): void {
    if (this.options.type === 'ROUTER') {
      const [identity, ...rest] = frames;
      if (identity === undefined) return;
      this.routes.get(identity.toString('latin1'))?.send(rest);
      return;
    }
    const topic = frames[0] ?? Buffer.alloc(0);
    for (const [connection, prefixes] of this.subscriptions) {
      if (connection.backlog > MAX_SUBSCRIBER_BACKLOG) continue;
      for (const prefix of prefixes.keys()) {
        if (startsWith(topic, prefix)) {
          connection.send(frames);
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
    for (const connection of this.connections) connection.close(lingerMs);
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    /** ROUTER: the peer's identity, and its key in `routes`. */
    let route: { readonly identity: Buffer; readonly key: string } | undefined;
    const connection: ZmtpConnection = new ZmtpConnection(socket, {
      type: this.options.type,
      onReady: (peer) => {
        if (this.options.type === 'ROUTER') {
          const identity = peer.identity.length > 0 ? peer.identity : this.generatedIdentity();
          route = { identity, key: identity.toString('latin1') };
          // The newcomer takes the route over, as a ROUTER with ZMQ_ROUTER_HANDOVER does.
          this.routes.get(route.key)?.close();
          this.routes.set(route.key, connection);
        } else if (this.options.type === 'PUB') {
          this.subscriptions.set(connection, new Map());
        }
      },
      onMessage: (frames) => {
        if (route !== undefined) {
          this.options.onMessage?.([route.identity, ...frames], () => undefined);
        } else {
          this.options.onMessage?.(frames, (reply) => connection.send(reply));
        }
      },
      onSubscription: (topic, subscribe) => {
        const prefixes = this.subscriptions.get(connection);
        if (prefixes === undefined) return;
        const key = topic.toString('latin1');
        const count = (prefixes.get(key) ?? 0) + (subscribe ? 1 : -1);
        if (count > 0) prefixes.set(key, count);
        else prefixes.delete(key);
      },
      onClose: () => {
        this.connections.delete(connection);
        this.subscriptions.delete(connection);
        if (route !== undefined && this.routes.get(route.key) === connection) {
          this.routes.delete(route.key);
        }
      },
    });
    this.connections.add(connection);
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

/**
 * After EADDRINUSE on a Unix socket path: removes the path when it is a socket nobody listens on
 * (left by a process that died), as libzmq does. True when removed.
 */
async function removeStaleSocket(error: unknown, path: string): Promise<boolean> {
  if ((error as { code?: unknown }).code !== 'EADDRINUSE') return false;
  try {
    if (!lstatSync(path).isSocket()) return false;
  } catch {
    return false;
  }
  const listening = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => {
      resolve(false);
    });
  });
  if (listening) return false;
  unlinkSync(path);
  return true;
}

export interface ZmtpConnectorOptions {
  readonly type: 'DEALER' | 'SUB';
  /** DEALER: the identity the peer routes by. */
  readonly identity?: Buffer;
  readonly onMessage: (frames: Buffer[]) => void;
  /** Each connection that ends (the connector tries again unless closed). */
  readonly onDisconnect?: (error?: Error) => void;
}

export class ZmtpConnector {
  private connection: ZmtpConnection | undefined;
  private readonly queue: (readonly Buffer[])[] = [];
  private retry: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly where: ZmtpEndpoint;

  constructor(
    endpoint: string,
    private readonly options: ZmtpConnectorOptions,
  ) {
    this.where = parseEndpoint(endpoint);
    this.connect();
  }

  /** Sends now when connected, else once connected; dropped beyond 1000 waiting or when closed. */
  send(frames: readonly Buffer[]): void {
    if (this.closed) return;
    if (this.connection?.isReady === true && this.queue.length === 0) {
      this.connection.send(frames);
      return;
    }
    if (this.queue.length < MAX_QUEUED) this.queue.push(frames);
  }

  /** Resolves once everything sent so far is handed to the operating system. */
  flushed(): Promise<void> {
    return this.connection?.flushed() ?? Promise.resolve();
  }

  /** Stops; what was written still goes out for at most `lingerMs`. */
  close(lingerMs = 0): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retry !== undefined) clearTimeout(this.retry);
    this.queue.length = 0;
    this.connection?.close(lingerMs);
    this.connection = undefined;
  }

  private connect(): void {
    const socket =
      this.where.transport === 'ipc'
        ? connect(this.where.path)
        : connect({ host: this.where.host, port: this.where.port, noDelay: true });
    const connection: ZmtpConnection = new ZmtpConnection(socket, {
      type: this.options.type,
      ...(this.options.identity === undefined ? {} : { identity: this.options.identity }),
      onReady: () => {
        // Everything: the launcher relays a kernel's iopub whole.
        if (this.options.type === 'SUB') connection.send([Buffer.from([1])]);
        for (const frames of this.queue.splice(0)) connection.send(frames);
      },
      onMessage: (frames) => {
        this.options.onMessage(frames);
      },
      onClose: (error) => {
        if (this.connection !== connection) return;
        this.connection = undefined;
        if (this.closed) return;
        this.options.onDisconnect?.(error);
        this.retry = setTimeout(() => {
          this.retry = undefined;
          if (!this.closed) this.connect();
        }, RECONNECT_MS);
        this.retry.unref();
      },
    });
    this.connection = connection;
  }
}
