/**
 * The connection to the kernel in the job, through the agent's tunnels: one DEALER per client
 * identity on shell, control and stdin (with the client's own routing id, so the kernel's stdin
 * requests reach the client that asked, as they would locally), one SUB on iopub, a heartbeat
 * watch, and the probe that says the kernel is really there. Messages pass as frames, unchanged.
 * Owns every socket it opens.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Channel } from './connection-info.js';
import type { RouterChannel } from './kernel-sockets.js';
import { type MessageFactory, parseHeader, splitFrames } from './wire.js';
import { LINGER_MS, ZmtpConnector } from './zmtp-sockets.js';

export type RemoteEndpoints = Readonly<Record<Channel, string>>;

export interface RemoteKernelOptions {
  readonly endpoints: RemoteEndpoints;
  readonly factory: MessageFactory;
  /** A message from the kernel for the client `identity` (frames without the identity). */
  readonly onReply: (channel: RouterChannel, identity: Buffer, frames: Buffer[]) => void;
  /** Every iopub message of the kernel, except the answers to our own probes. */
  readonly onIopub: (frames: Buffer[]) => void;
  /** At most this many clients keep their own sockets; the least recently heard go first. */
  readonly maxClients?: number;
}

type ClientSockets = Readonly<Record<RouterChannel, ZmtpConnector>>;

export interface Established {
  /** The kernel process's session id (from its reply header): changes when it restarts. */
  readonly session: string;
}

/** How long a heartbeat may stay silent before the kernel counts as unreachable (for now). */
export const HEARTBEAT_SILENT_MS = 10_000;

export interface HeartbeatWatch {
  /** No beat for `silentForMs`: the kernel or the way to it is gone, maybe for a moment. */
  readonly onSilent: (silentForMs: number) => void;
  /** The first beat after a silence. */
  readonly onBack: () => void;
}

export class RemoteKernel {
  private readonly clients = new Map<string, ClientSockets>();
  private readonly sub: ZmtpConnector;
  /** msg_ids of our probes: their iopub answers are ours, not the clients'. */
  private readonly probeIds = new Set<string>();
  private probeIopub: ((id: string) => void) | undefined;
  private hbTimer: NodeJS.Timeout | undefined;
  private hb: ZmtpConnector | undefined;
  private closed = false;

  private where: RemoteEndpoints;

  constructor(private readonly options: RemoteKernelOptions) {
    this.where = options.endpoints;
    this.sub = new ZmtpConnector(options.endpoints.iopub, {
      type: 'SUB',
      onMessage: (frames) => {
        if (this.probeIds.size > 0 && this.isProbeAnswer(frames)) return;
        this.options.onIopub(frames);
      },
    });
  }

  /** Where it connects (the agent's tunnels). */
  get endpoints(): RemoteEndpoints {
    return this.where;
  }

  /**
   * Connects through other tunnels from now on (a new agent made new ones): every socket moves,
   * and what waits to be sent goes through the new ones.
   */
  retarget(endpoints: RemoteEndpoints): void {
    if (this.closed) return;
    this.where = endpoints;
    this.sub.retarget(endpoints.iopub);
    this.hb?.retarget(endpoints.hb);
    for (const client of this.clients.values()) {
      for (const channel of ['shell', 'control', 'stdin'] as const) {
        client[channel].retarget(endpoints[channel]);
      }
    }
  }

  /** Sends a client's message (frames after its identity) to the kernel, unchanged. */
  forward(channel: RouterChannel, identity: Buffer, frames: readonly Buffer[]): void {
    if (this.closed) return;
    this.clientOf(identity)[channel].send(frames);
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
    const waiting = new Map<string, (session: string) => void>();
    const probe = new ZmtpConnector(this.where.shell, {
      type: 'DEALER',
      identity: Buffer.from(`hpcj-probe-${hex(8)}`),
      onMessage: (frames) => {
        const answer = kernelInfoAnswer(frames);
        if (answer !== undefined) waiting.get(answer.parent)?.(answer.session);
      },
    });
    /** The replying kernel's session, or undefined when no reply came within a second. */
    const reply = (id: string): Promise<string | undefined> =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiting.delete(id);
          resolve(undefined);
        }, 1000);
        waiting.set(id, (session) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(session);
        });
      });
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
        const replied = reply(id);
        probe.send(request);
        const session = await replied;
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
    let answered: () => void = () => undefined;
    const reply = new Promise<void>((resolve) => {
      answered = resolve;
      setTimeout(resolve, 3000).unref();
    });
    const control = new ZmtpConnector(this.where.control, {
      type: 'DEALER',
      identity: Buffer.from(`hpcj-restart-${hex(8)}`),
      onMessage: () => {
        answered();
      },
    });
    control.send(
      this.options.factory.make({ msgType: 'shutdown_request', content: { restart: true } }),
    );
    await reply;
    control.close(LINGER_MS);
  }

  /**
   * Pings the kernel's heartbeat every `intervalMs`. Nothing back for `silentMs` calls `onSilent`
   * (the kernel, or the way to it, is gone for now: a network blip looks the same as a dead
   * kernel from here); the pings go on, and the first beat after that calls `onBack`. Whether the
   * kernel died is for the caller to find out (a new session behind the same ports, or its job's
   * end), never for the heartbeat alone.
   */
  watchHeartbeat(watch: HeartbeatWatch, intervalMs = 1000, silentMs = HEARTBEAT_SILENT_MS): void {
    let last = Date.now();
    let silent = false;
    const hb = new ZmtpConnector(this.where.hb, {
      type: 'DEALER',
      onMessage: (frames) => {
        if (frames.length === 0) return;
        last = Date.now();
        if (silent) {
          silent = false;
          watch.onBack();
        }
      },
    });
    this.hb = hb;
    this.hbTimer = setInterval(() => {
      if (!silent && Date.now() - last > silentMs) {
        silent = true;
        watch.onSilent(Date.now() - last);
      }
      // REQ's envelope (an empty delimiter) and the ping, as jupyter_client's heartbeat sends.
      // While silent they wait in the connector (at most 1000) or the socket: a few bytes each.
      hb.send([Buffer.alloc(0), Buffer.from('ping')]);
    }, intervalMs);
    this.hbTimer.unref();
  }

  /**
   * The session of the kernel that answers a kernel_info request on control now (ipykernel
   * answers there even while a cell runs on shell), or undefined when none came in `timeoutMs`.
   */
  async currentSession(timeoutMs: number): Promise<string | undefined> {
    const request = this.options.factory.make({ msgType: 'kernel_info_request', content: {} });
    const id = parseHeader(splitFrames(request).header).msg_id;
    this.probeIds.add(id);
    let control: ZmtpConnector | undefined;
    try {
      return await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => {
          resolve(undefined);
        }, timeoutMs);
        control = new ZmtpConnector(this.where.control, {
          type: 'DEALER',
          identity: Buffer.from(`hpcj-probe-${hex(8)}`),
          onMessage: (frames) => {
            const answer = kernelInfoAnswer(frames);
            if (answer?.parent !== id) return;
            clearTimeout(timer);
            resolve(answer.session);
          },
        });
        control.send(request);
      });
    } finally {
      control?.close();
      setTimeout(() => {
        this.probeIds.delete(id);
      }, 5000).unref();
    }
  }

  stopHeartbeat(): void {
    if (this.hbTimer !== undefined) clearInterval(this.hbTimer);
    this.hbTimer = undefined;
    this.hb?.close();
    this.hb = undefined;
  }

  /** Resolves once everything forwarded so far is handed to the operating system. */
  async drained(): Promise<void> {
    const all = [...this.clients.values()].flatMap((c) => Object.values(c));
    await Promise.all(all.map((connector) => connector.flushed()));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopHeartbeat();
    this.sub.close();
    for (const client of this.clients.values()) {
      for (const connector of Object.values(client)) connector.close(LINGER_MS);
    }
    this.clients.clear();
  }

  private clientOf(identity: Buffer): ClientSockets {
    const key = identity.toString('latin1');
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
      for (const connector of Object.values(oldest)) connector.close();
      this.clients.delete(oldestKey);
    }
    // The same routing id on all three: ipykernel sends input requests on stdin to the identity
    // the execute request came from on shell.
    const routingId = routingIdFor(identity);
    const connect = (channel: RouterChannel): ZmtpConnector =>
      new ZmtpConnector(this.where[channel], {
        type: 'DEALER',
        identity: routingId,
        onMessage: (frames) => {
          this.options.onReply(channel, identity, frames);
        },
      });
    const created = {
      stdin: connect('stdin'),
      shell: connect('shell'),
      control: connect('control'),
    };
    this.clients.set(key, created);
    return created;
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

/** A kernel_info_reply's parent msg_id and its sender's session; undefined for anything else. */
function kernelInfoAnswer(frames: Buffer[]): { parent: string; session: string } | undefined {
  try {
    const m = splitFrames(frames);
    const parent = JSON.parse(m.parentHeader.toString('utf8')) as { msg_id?: unknown };
    const header = parseHeader(m.header);
    if (typeof parent.msg_id !== 'string' || header.msg_type !== 'kernel_info_reply') {
      return undefined;
    }
    return { parent: parent.msg_id, session: header.session };
  } catch {
    return undefined;
  }
}

/**
 * The client's identity, to be the kernel's routing id for our connections on its behalf; one
 * of our own for an identity ZeroMQ made up (those start with a zero byte and mean nothing on
 * another connection).
 */
export function routingIdFor(identity: Buffer): Buffer {
  return identity.length > 0 && identity.length <= 255 && identity[0] !== 0
    ? identity
    : Buffer.from(`hpcj-${hex(8)}`);
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}
