/**
 * The connection to the kernel in the job, through the agent's tunnels: one DEALER per client
 * identity on shell, control and stdin (with the client's own routing id, so the kernel's stdin
 * requests reach the client that asked, as they would locally), one SUB on iopub, a heartbeat
 * watch, and the probe that says the kernel is really there. Messages pass as frames, unchanged.
 * Owns every socket it opens.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as zmq from 'zeromq';
import type { Channel } from './connection-info.js';
import { type RouterChannel, SerialSender } from './kernel-sockets.js';
import { type MessageFactory, parseHeader, splitFrames } from './wire.js';

export type RemoteEndpoints = Readonly<Record<Channel, string>>;

export interface RemoteKernelOptions {
  readonly endpoints: RemoteEndpoints;
  readonly factory: MessageFactory;
  /** A message from the kernel for the client `identity` (frames without the identity). */
  readonly onReply: (channel: RouterChannel, identity: Buffer, frames: Buffer[]) => void;
  /** Every iopub message of the kernel, except the answers to our own probes. */
  readonly onIopub: (frames: Buffer[]) => void;
  readonly onError: (error: unknown) => void;
  /** At most this many clients keep their own sockets; the least recently heard go first. */
  readonly maxClients?: number;
}

interface ClientSockets {
  readonly dealers: Readonly<Record<RouterChannel, zmq.Dealer>>;
  readonly senders: Readonly<Record<RouterChannel, SerialSender>>;
}

export interface Established {
  /** The kernel process's session id (from its reply header): changes when it restarts. */
  readonly session: string;
}

const ROUTER_CHANNELS: readonly RouterChannel[] = ['stdin', 'shell', 'control'];

export class RemoteKernel {
  private readonly clients = new Map<string, ClientSockets>();
  private readonly sub: zmq.Subscriber;
  /** msg_ids of our probes: their iopub answers are ours, not the clients'. */
  private readonly probeIds = new Set<string>();
  private probeIopub: ((id: string) => void) | undefined;
  private hbTimer: NodeJS.Timeout | undefined;
  private hb: zmq.Dealer | undefined;
  private closed = false;

  constructor(private readonly options: RemoteKernelOptions) {
    this.sub = new zmq.Subscriber({ linger: 0 });
    this.sub.connect(options.endpoints.iopub);
    this.sub.subscribe();
    void this.readIopub();
  }

  /** Sends a client's message (frames after its identity) to the kernel, unchanged. */
  forward(channel: RouterChannel, identity: Buffer, frames: readonly Buffer[]): void {
    if (this.closed) return;
    void this.clientOf(identity).senders[channel].send([...frames]);
  }

  /**
   * Resolves once the kernel answers a kernel_info request on shell AND its iopub messages reach
   * us (so nothing it publishes for a forwarded request is lost to a subscription still on its
   * way). A reply from `staleSession` (the kernel before a restart) does not count; with
   * `restartStale`, that kernel is asked to restart (the previous launcher was killed before it
   * could ask: Jupyter's forced restart).
   */
  async establish(options: {
    readonly staleSession?: string;
    readonly restartStale?: boolean;
    readonly timeoutMs: number;
    readonly signal?: AbortSignal;
  }): Promise<Established> {
    const probe = new zmq.Dealer({ linger: 0, routingId: `hpcj-probe-${hex(8)}` });
    probe.receiveTimeout = 1000;
    probe.connect(this.options.endpoints.shell);
    const deadline = Date.now() + options.timeoutMs;
    let restartAsked = options.restartStale !== true;
    try {
      while (!this.closed && options.signal?.aborted !== true) {
        if (Date.now() > deadline) {
          throw new Error(`the kernel did not answer within ${options.timeoutMs / 1000} s`);
        }
        const request = this.options.factory.make({ msgType: 'kernel_info_request', content: {} });
        const id = parseHeader(splitFrames(request).header).msg_id;
        this.probeIds.add(id);
        const sawIopub = this.waitForProbeIopub(1500);
        await probe.send(request);
        const session = await receiveReply(probe, id);
        if (session === undefined || session === options.staleSession) {
          if (session !== undefined && !restartAsked) {
            restartAsked = true;
            await this.requestRestart();
          }
          await sleep(250);
          continue;
        }
        if (await sawIopub) return { session };
      }
      throw new Error('closed while connecting to the kernel');
    } finally {
      probe.close();
      // Late iopub answers to the probes (their idle status) are still ours for a moment.
      setTimeout(() => {
        this.probeIds.clear();
      }, 5000).unref();
    }
  }

  /** Asks the kernel to restart (it exits; the job starts it again), as Jupyter's restart does. */
  private async requestRestart(): Promise<void> {
    const control = new zmq.Dealer({ linger: 1000, routingId: `hpcj-restart-${hex(8)}` });
    control.receiveTimeout = 3000;
    control.connect(this.options.endpoints.control);
    try {
      await control.send(
        this.options.factory.make({ msgType: 'shutdown_request', content: { restart: true } }),
      );
      await control.receive().catch(() => undefined);
    } finally {
      control.close();
    }
  }

  /** Pings the kernel's heartbeat every `intervalMs`; `onDead` once nothing came for `deadMs`. */
  watchHeartbeat(onDead: () => void, intervalMs = 1000, deadMs = 10_000): void {
    const hb = new zmq.Dealer({ linger: 0 });
    hb.connect(this.options.endpoints.hb);
    this.hb = hb;
    let last = Date.now();
    void (async () => {
      try {
        for await (const frames of hb) {
          if (frames.length > 0) last = Date.now();
        }
      } catch {
        // closed
      }
    })();
    const sender = new SerialSender(hb, () => undefined);
    this.hbTimer = setInterval(() => {
      if (Date.now() - last > deadMs) {
        this.stopHeartbeat();
        onDead();
        return;
      }
      void sender.send([Buffer.alloc(0), Buffer.from('ping')]);
    }, intervalMs);
    this.hbTimer.unref();
  }

  stopHeartbeat(): void {
    if (this.hbTimer !== undefined) clearInterval(this.hbTimer);
    this.hbTimer = undefined;
    this.hb?.close();
    this.hb = undefined;
  }

  /** Resolves once everything forwarded so far is queued in the sockets. */
  async drained(): Promise<void> {
    const all = [...this.clients.values()].flatMap((c) => Object.values(c.senders));
    await Promise.all(all.map((s) => s.drained()));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopHeartbeat();
    this.sub.close();
    for (const client of this.clients.values()) {
      for (const dealer of Object.values(client.dealers)) dealer.close();
    }
    this.clients.clear();
  }

  private clientOf(identity: Buffer): ClientSockets {
    const key = identity.toString('hex');
    const found = this.clients.get(key);
    if (found !== undefined) {
      // Most recently heard last, so the first entry is the one to drop when full.
      this.clients.delete(key);
      this.clients.set(key, found);
      return found;
    }
    const max = this.options.maxClients ?? 256;
    if (this.clients.size >= max) {
      const [oldestKey, oldest] = this.clients.entries().next().value as [string, ClientSockets];
      for (const dealer of Object.values(oldest.dealers)) dealer.close();
      this.clients.delete(oldestKey);
    }
    // The same routing id on all three: ipykernel sends input requests on stdin to the identity
    // the execute request came from on shell.
    const routingId = routingIdFor(identity);
    const dealers = {} as Record<RouterChannel, zmq.Dealer>;
    const senders = {} as Record<RouterChannel, SerialSender>;
    for (const channel of ROUTER_CHANNELS) {
      const dealer = new zmq.Dealer({ linger: 1000, routingId });
      dealer.connect(this.options.endpoints[channel]);
      dealers[channel] = dealer;
      senders[channel] = new SerialSender(dealer, this.options.onError);
      void this.readReplies(channel, identity, dealer);
    }
    const created = { dealers, senders };
    this.clients.set(key, created);
    return created;
  }

  private async readReplies(
    channel: RouterChannel,
    identity: Buffer,
    dealer: zmq.Dealer,
  ): Promise<void> {
    try {
      for await (const frames of dealer) this.options.onReply(channel, identity, frames);
    } catch (error) {
      if (!this.closed && !dealer.closed) this.options.onError(error);
    }
  }

  private async readIopub(): Promise<void> {
    try {
      for await (const frames of this.sub) {
        if (this.probeIds.size > 0 && this.isProbeAnswer(frames)) continue;
        this.options.onIopub(frames);
      }
    } catch (error) {
      if (!this.closed) this.options.onError(error);
    }
  }

  private isProbeAnswer(frames: Buffer[]): boolean {
    try {
      const parent = JSON.parse(splitFrames(frames).parentHeader.toString('utf8')) as {
        msg_id?: unknown;
      };
      if (typeof parent.msg_id !== 'string' || !this.probeIds.has(parent.msg_id)) return false;
      this.probeIopub?.(parent.msg_id);
      return true;
    } catch {
      return false;
    }
  }

  private waitForProbeIopub(timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.probeIopub = undefined;
        resolve(false);
      }, timeoutMs);
      this.probeIopub = () => {
        clearTimeout(timer);
        this.probeIopub = undefined;
        resolve(true);
      };
    });
  }
}

/** Receives until the reply to `msgId` arrives; its sender's session, or undefined on timeout. */
async function receiveReply(dealer: zmq.Dealer, msgId: string): Promise<string | undefined> {
  for (;;) {
    let frames: Buffer[];
    try {
      frames = await dealer.receive();
    } catch {
      return undefined; // timed out: ask again
    }
    try {
      const m = splitFrames(frames);
      const parent = JSON.parse(m.parentHeader.toString('utf8')) as { msg_id?: unknown };
      if (parent.msg_id !== msgId) continue;
      const header = parseHeader(m.header);
      if (header.msg_type !== 'kernel_info_reply') continue;
      return header.session;
    } catch {
      continue;
    }
  }
}

/** The client's identity when ZeroMQ accepts it as a routing id, else one of our own. */
export function routingIdFor(identity: Buffer): string {
  const printable =
    identity.length > 0 && identity.length <= 255 && identity.every((b) => b >= 0x21 && b <= 0x7e);
  return printable ? identity.toString('latin1') : `hpcj-${hex(8)}`;
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}
