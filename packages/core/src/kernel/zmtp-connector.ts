/**
 * A connecting DEALER or SUB over a ZMTP connection of its own, as libzmq's: it connects again
 * 100 ms after a connection ends, and holds what is sent meanwhile (up to 1000 messages, libzmq's
 * default high-water mark). The launcher's side of the sockets to the kernel in the job.
 */
import { connect } from 'node:net';
import { ZmtpConnection } from './zmtp-connection.js';
import { type ZmtpEndpoint, parseEndpoint } from './zmtp-endpoint.js';

const RECONNECT_MS = 100;
const MAX_QUEUED = 1000;

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
  private where: ZmtpEndpoint;

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

  /**
   * Connects to `endpoint` from now on (the tunnel moved): the current connection, if any, ends
   * and the next one goes there; what waits to be sent stays queued for it.
   */
  retarget(endpoint: string): void {
    if (this.closed) return;
    this.where = parseEndpoint(endpoint);
    this.connection?.close();
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
