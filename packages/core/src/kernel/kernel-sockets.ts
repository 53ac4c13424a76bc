/**
 * The five sockets a kernel binds (shell, control and stdin ROUTERs, iopub PUB, hb REP), bound
 * at once from the connection file, handing every message to one callback. The heartbeat is
 * echoed here, always: it says this process is alive; the remote kernel's health is watched
 * separately. Owns the sockets and closes them.
 */
import { type Channel, type ConnectionInfo, endpointOf } from './connection-info.js';
import { LINGER_MS, ZmtpServer } from './zmtp-sockets.js';

export type RouterChannel = 'shell' | 'control' | 'stdin';

const BIND_RETRY_MS = 3000;

export class PortInUseError extends Error {
  override readonly name = 'PortInUseError';
}

export interface KernelSocketsOptions {
  /** Every message received on shell, control or stdin, identities first. */
  readonly onMessage: (channel: RouterChannel, frames: Buffer[]) => void;
}

const CHANNELS: readonly Channel[] = ['shell', 'control', 'stdin', 'iopub', 'hb'];

export class KernelSockets {
  private closed = false;

  private constructor(private readonly servers: Readonly<Record<Channel, ZmtpServer>>) {}

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
    const router = (channel: RouterChannel): Promise<ZmtpServer> =>
      ZmtpServer.bind(endpointOf(info, channel), {
        type: 'ROUTER',
        onMessage: (frames) => {
          options.onMessage(channel, frames);
        },
      });
    const binds: Record<Channel, Promise<ZmtpServer>> = {
      shell: router('shell'),
      control: router('control'),
      stdin: router('stdin'),
      iopub: ZmtpServer.bind(endpointOf(info, 'iopub'), { type: 'PUB' }),
      hb: ZmtpServer.bind(endpointOf(info, 'hb'), {
        type: 'REP',
        onMessage: (frames, reply) => {
          reply(frames);
        },
      }),
    };
    const results = await Promise.allSettled(CHANNELS.map((channel) => binds[channel]));
    const failed = results.findIndex((r) => r.status === 'rejected');
    if (failed >= 0) {
      for (const r of results) if (r.status === 'fulfilled') r.value.close();
      const channel = CHANNELS[failed] as Channel;
      const reason = (results[failed] as PromiseRejectedResult).reason as Error;
      const message = `cannot bind the ${channel} port ${endpointOf(info, channel)}: ${reason.message}`;
      throw (reason as { code?: unknown }).code === 'EADDRINUSE'
        ? new PortInUseError(message)
        : new Error(message);
    }
    const servers = Object.fromEntries(
      CHANNELS.map((channel, i) => [
        channel,
        (results[i] as PromiseFulfilledResult<ZmtpServer>).value,
      ]),
    ) as Record<Channel, ZmtpServer>;
    return new KernelSockets(servers);
  }

  /** Sends on a ROUTER channel (frames start with the client's identity) or on iopub. */
  send(channel: RouterChannel | 'iopub', frames: readonly Buffer[]): void {
    if (this.closed) return;
    this.servers[channel].send(frames);
  }

  /** Resolves once everything sent so far is handed to the operating system. */
  async drained(): Promise<void> {
    await Promise.all(CHANNELS.map((channel) => this.servers[channel].flushed()));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const channel of CHANNELS) this.servers[channel].close(LINGER_MS);
  }
}
