/**
 * The five sockets a kernel binds (shell, control and stdin ROUTERs, iopub PUB, hb REP), bound
 * at once from the connection file, with one serialised sender per socket (zeromq.js allows one
 * pending send per socket) and receive loops that hand every message to one callback. The
 * heartbeat is echoed here, always: it says this process is alive; the remote kernel's health is
 * watched separately. Owns the sockets and closes them.
 */
import * as zmq from 'zeromq';
import type { Publisher, Reply, Router } from 'zeromq';
import { type Channel, type ConnectionInfo, endpointOf } from './connection-info.js';

export type RouterChannel = 'shell' | 'control' | 'stdin';

const BIND_RETRY_MS = 3000;

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
}

/** Sends on one socket in order, one at a time, never rejecting (errors go to `onError`). */
export class SerialSender {
  private tail: Promise<void> = Promise.resolve();
  private pending = 0;

  constructor(
    private readonly socket: { send(frames: Buffer[]): Promise<void> },
    private readonly onError: (error: unknown) => void,
  ) {}

  send(frames: Buffer[]): Promise<void> {
    this.pending++;
    const next = this.tail.then(() => this.socket.send(frames));
    this.tail = next.then(
      () => {
        this.pending--;
      },
      (error: unknown) => {
        this.pending--;
        this.onError(error);
      },
    );
    return this.tail;
  }

  /** Messages handed to `send` and not yet queued in the socket. */
  get backlog(): number {
    return this.pending;
  }

  /** Resolves once everything sent so far is queued in the socket. */
  drained(): Promise<void> {
    return this.tail;
  }
}

export interface KernelSocketsOptions {
  /** Every message received on shell, control or stdin, identities first. */
  readonly onMessage: (channel: RouterChannel, frames: Buffer[]) => void;
  readonly onError: (error: unknown) => void;
}

export class KernelSockets {
  readonly senders: Readonly<Record<RouterChannel | 'iopub', SerialSender>>;
  private closed = false;

  private constructor(
    readonly routers: Readonly<Record<RouterChannel, Router>>,
    readonly iopub: Publisher,
    readonly hb: Reply,
    private readonly options: KernelSocketsOptions,
  ) {
    const { onError } = options;
    this.senders = {
      shell: new SerialSender(routers.shell, onError),
      control: new SerialSender(routers.control, onError),
      stdin: new SerialSender(routers.stdin, onError),
      iopub: new SerialSender(iopub, onError),
    };
  }

  /**
   * Binds all five ports concurrently; fails (closing what was bound) if any cannot be. A port
   * in use is tried again for a moment: after a restart, the previous launcher may still be
   * letting go of the same ports.
   */
  static async bind(info: ConnectionInfo, options: KernelSocketsOptions): Promise<KernelSockets> {
    const deadline = Date.now() + BIND_RETRY_MS;
    for (;;) {
      try {
        return await KernelSockets.bindOnce(info, options);
      } catch (error) {
        if (!(error instanceof PortInUseError) || Date.now() > deadline) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  private static async bindOnce(
    info: ConnectionInfo,
    options: KernelSocketsOptions,
  ): Promise<KernelSockets> {
    // A client that reconnects with the same identity (after a restart) takes its route over.
    const router = (): Router => new zmq.Router({ handover: true, linger: 1000 });
    const routers = { shell: router(), control: router(), stdin: router() };
    const iopub = new zmq.Publisher({ linger: 1000 });
    const hb = new zmq.Reply({ linger: 0 });
    const all: [Channel, zmq.Socket & { bind(address: string): Promise<void> }][] = [
      ['shell', routers.shell],
      ['control', routers.control],
      ['stdin', routers.stdin],
      ['iopub', iopub],
      ['hb', hb],
    ];
    const results = await Promise.allSettled(all.map(([ch, s]) => s.bind(endpointOf(info, ch))));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      for (const [, s] of all) s.close();
      const [channel] = all[failed] as [Channel, unknown];
      const reason = (results[failed] as PromiseRejectedResult).reason as Error;
      const message = `cannot bind the ${channel} port ${endpointOf(info, channel)}: ${reason.message}`;
      throw (reason as { code?: unknown }).code === 'EADDRINUSE'
        ? new PortInUseError(message)
        : new Error(message);
    }
    const sockets = new KernelSockets(routers, iopub, hb, options);
    sockets.loop();
    return sockets;
  }

  /** Sends on a ROUTER channel (frames start with the client's identity) or on iopub. */
  send(channel: RouterChannel | 'iopub', frames: Buffer[]): Promise<void> {
    return this.senders[channel].send(frames);
  }

  /** Resolves once everything sent so far is queued in the sockets. */
  async drained(): Promise<void> {
    await Promise.all(Object.values(this.senders).map((s) => s.drained()));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...Object.values(this.routers), this.iopub, this.hb]) s.close();
  }

  private loop(): void {
    for (const [channel, socket] of Object.entries(this.routers) as [RouterChannel, Router][]) {
      void this.receive(socket, (frames) => {
        this.options.onMessage(channel, frames);
      });
    }
    void this.receive(this.hb, (frames) => {
      // REP alternates receive and send: the echo is awaited before the next receive.
      return this.hb.send(frames);
    });
  }

  private async receive(
    socket: zmq.Readable & zmq.Socket,
    handle: (frames: Buffer[]) => Promise<void> | void,
  ): Promise<void> {
    try {
      for await (const frames of socket) {
        await handle(frames);
      }
    } catch (error) {
      if (!this.closed) this.options.onError(error);
    }
  }
}
