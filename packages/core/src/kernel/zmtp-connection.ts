/**
 * One ZMTP 3 connection over a TCP or Unix socket: the handshake (greeting and READY, with the
 * peer's socket type checked, and for a ROUTER its routing id admitted before our READY goes
 * out), then whole messages in and out. Answers PING with PONG; turns a subscriber's
 * subscriptions (as messages, ZMTP 3.0, or commands, 3.1) into events. Bounded: the handshake in
 * time and size, messages in bytes and frames (zmtp.ts); a peer past a bound is closed with the
 * reason, sent as an ERROR command while the handshake is on (the only time ZMTP has one). Counts
 * the messages written and not yet handed to the operating system, for high-water marks. Owns its
 * socket.
 */
import type { Socket } from 'node:net';
import {
  GREETING_BYTES,
  MAX_COMMAND_BYTES,
  ZmtpDecoder,
  type ZmtpEvent,
  ZmtpLimitError,
  ZmtpProtocolError,
  type ZmtpSocketType,
  acceptsPeer,
  checkGreeting,
  command,
  encodeMessage,
  greeting,
  parseProperties,
  ready,
} from './zmtp.js';

/** A handshake not done in this time ends the connection (a port scan, a stuck peer). */
export const HANDSHAKE_MS = 10_000;
/** Pieces up to this size go out as one write; larger messages are written piece by piece. */
const COALESCE_BYTES = 64 * 1024;

export interface ZmtpPeer {
  readonly socketType: string;
  /** The peer's Identity property (empty when it sent none). */
  readonly identity: Buffer;
}

export interface ZmtpConnectionOptions {
  readonly type: ZmtpSocketType;
  /** Sent as our Identity property (DEALER: the routing id the kernel sees). */
  readonly identity?: Buffer;
  /**
   * Decides on the peer's READY before ours is sent: a reason refuses the peer, and the socket is
   * closed without an ERROR command, so a libzmq peer connects again 100 ms later (its queued
   * messages wait in its pipe: it sends nothing before our READY). Undefined admits it.
   */
  readonly admit?: (peer: ZmtpPeer) => string | undefined;
  /** Overrides HANDSHAKE_MS (tests). */
  readonly handshakeMs?: number;
  /** Overrides MAX_MESSAGE_BYTES and MAX_FRAMES (tests). */
  readonly maxMessageBytes?: number;
  readonly maxFrames?: number;
  readonly onReady: (peer: ZmtpPeer) => void;
  readonly onMessage: (frames: Buffer[]) => void;
  /** PUB only: a subscription (`subscribe` true) or its cancellation, with its topic prefix. */
  readonly onSubscription?: (topic: Buffer, subscribe: boolean) => void;
  /** Once, when the connection is gone; `error` says why when it was not a clean close. */
  readonly onClose: (error?: Error) => void;
}

export class ZmtpConnection {
  private peerGreeting: Buffer | undefined = Buffer.alloc(0);
  private readonly decoder: ZmtpDecoder;
  private peer: ZmtpPeer | undefined;
  private closed = false;
  private readonly handshakeTimer: NodeJS.Timeout;
  private queuedMessages = 0;
  private errorSent = false;

  constructor(
    readonly socket: Socket,
    private readonly options: ZmtpConnectionOptions,
  ) {
    socket.setNoDelay(true);
    this.decoder = new ZmtpDecoder({
      handshake: true,
      ...(options.maxMessageBytes === undefined
        ? {}
        : { maxMessageBytes: options.maxMessageBytes }),
      ...(options.maxFrames === undefined ? {} : { maxFrames: options.maxFrames }),
    });
    socket.write(
      options.admit === undefined ? Buffer.concat([greeting(), this.ourReady()]) : greeting(),
    );
    const handshakeMs = options.handshakeMs ?? HANDSHAKE_MS;
    this.handshakeTimer = setTimeout(() => {
      this.fail(new ZmtpLimitError(`no ZMTP handshake within ${handshakeMs / 1000} s`));
    }, handshakeMs);
    this.handshakeTimer.unref();
    socket.on('data', (chunk: Buffer) => {
      try {
        this.receive(chunk);
      } catch (error) {
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.on('error', (error) => {
      this.fail(error);
    });
    socket.on('close', () => {
      this.finish(undefined);
    });
  }

  get isReady(): boolean {
    return this.peer !== undefined && !this.closed;
  }

  /** Bytes written and not yet handed to the operating system. */
  get backlog(): number {
    return this.socket.writableLength;
  }

  /** Messages written whose last byte is not yet handed to the operating system. */
  get backlogMessages(): number {
    return this.queuedMessages;
  }

  /** Writes one message; false (and nothing written) before the handshake or after close. */
  send(frames: readonly Buffer[]): boolean {
    if (!this.isReady) return false;
    const pieces = encodeMessage(frames);
    let size = 0;
    for (const piece of pieces) size += piece.length;
    this.queuedMessages++;
    // Called once the last piece is handed to the OS, or with an error when the socket is gone.
    const written = (): void => {
      this.queuedMessages--;
    };
    if (size <= COALESCE_BYTES) {
      this.socket.write(Buffer.concat(pieces, size), written);
    } else {
      this.socket.cork();
      pieces.forEach((piece, i) => {
        this.socket.write(piece, i === pieces.length - 1 ? written : undefined);
      });
      this.socket.uncork();
    }
    return true;
  }

  /** Resolves once everything written so far is handed to the operating system. */
  flushed(): Promise<void> {
    if (this.closed || this.socket.writableLength === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.on('drain', done);
      this.socket.on('close', done);
    });
  }

  /** Ends the connection: what was written is still sent, for at most `lingerMs`. */
  close(lingerMs = 0): void {
    if (this.closed) return;
    this.finish(undefined);
    if (lingerMs <= 0 || this.socket.writableLength === 0) {
      this.socket.destroy();
      return;
    }
    this.socket.end();
    setTimeout(() => this.socket.destroy(), lingerMs).unref();
  }

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let rest = chunk;
    if (this.peerGreeting !== undefined) {
      const needed = GREETING_BYTES - this.peerGreeting.length;
      this.peerGreeting = Buffer.concat([this.peerGreeting, rest.subarray(0, needed)]);
      rest = rest.subarray(needed);
      if (checkGreeting(this.peerGreeting) === undefined) return;
      this.peerGreeting = undefined;
    }
    this.decoder.push(rest, (event) => {
      this.handle(event);
    });
  }

  private handle(event: ZmtpEvent): void {
    if (this.closed) return;
    if (event.kind === 'command') {
      this.handleCommand(event.name, event.data);
      return;
    }
    if (this.peer === undefined) throw new ZmtpProtocolError('a message before the handshake');
    if (this.options.type === 'PUB') {
      // A subscriber's messages are its subscriptions: 1 (or 0 to cancel), then the topic.
      const [first] = event.frames;
      if (first !== undefined && first.length > 0 && (first[0] === 0 || first[0] === 1)) {
        this.options.onSubscription?.(first.subarray(1), first[0] === 1);
      }
      return;
    }
    this.options.onMessage(event.frames);
  }

  private handleCommand(name: string, data: Buffer): void {
    if (this.peer === undefined && name !== 'READY' && name !== 'ERROR') {
      // The NULL mechanism's handshake is one READY each way, as libzmq enforces too.
      throw new ZmtpProtocolError(`a ${name} command before READY`);
    }
    switch (name) {
      case 'READY': {
        if (this.peer !== undefined) throw new ZmtpProtocolError('a second READY');
        const properties = parseProperties(data);
        const socketType = properties.get('socket-type')?.toString('latin1') ?? '';
        if (!acceptsPeer(this.options.type, socketType)) {
          // libzmq's words for it, which its peers report as such.
          this.errorSent = true;
          this.socket.write(command('ERROR', reason('Invalid socket type')));
          throw new ZmtpProtocolError(
            `a ${socketType || 'untyped'} socket cannot talk to this ${this.options.type} socket`,
          );
        }
        const peer = { socketType, identity: properties.get('identity') ?? Buffer.alloc(0) };
        const refused = this.options.admit?.(peer);
        if (refused !== undefined) throw new ZmtpRefusal(refused);
        if (this.options.admit !== undefined) this.socket.write(this.ourReady());
        clearTimeout(this.handshakeTimer);
        this.decoder.handshakeDone();
        this.peer = peer;
        this.options.onReady(peer);
        return;
      }
      case 'ERROR':
        throw new ZmtpProtocolError(`the peer ended the connection: ${errorReason(data)}`);
      case 'PING':
        // TTL (2 bytes), then up to 16 bytes of context, sent back in the PONG; not to a peer
        // that reads nothing (its PINGs would pile our PONGs up).
        if (this.socket.writableLength < MAX_COMMAND_BYTES) {
          this.socket.write(command('PONG', data.subarray(2, 18)));
        }
        return;
      case 'SUBSCRIBE':
      case 'CANCEL':
        if (this.options.type === 'PUB') this.options.onSubscription?.(data, name === 'SUBSCRIBE');
        return;
      default:
        // PONG and commands of later versions carry nothing we need.
        return;
    }
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.finish(error);
    // ERROR is a handshake command, and only a peer whose greeting was ZMTP 3 understands it;
    // a refused routing id gets none, so that the peer tries again (see `admit`).
    if (
      !this.errorSent &&
      this.peer === undefined &&
      this.peerGreeting === undefined &&
      error instanceof ZmtpProtocolError &&
      !(error instanceof ZmtpRefusal)
    ) {
      this.socket.end(command('ERROR', reason(error.message.slice(0, 255))));
      setTimeout(() => this.socket.destroy(), 100).unref();
      return;
    }
    this.socket.destroy();
  }

  private ourReady(): Buffer {
    const properties: Record<string, Buffer | string> = { 'Socket-Type': this.options.type };
    if (this.options.type === 'DEALER' || this.options.type === 'ROUTER') {
      properties['Identity'] = this.options.identity ?? Buffer.alloc(0);
    }
    return ready(properties);
  }

  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.handshakeTimer);
    this.options.onClose(error);
  }
}

/** A peer refused by `admit` (not a protocol error: it may come back). */
export class ZmtpRefusal extends ZmtpProtocolError {
  override readonly name = 'ZmtpRefusal';
}

function reason(text: string): Buffer {
  return Buffer.concat([Buffer.from([text.length]), Buffer.from(text, 'latin1')]);
}

function errorReason(data: Buffer): string {
  const length = data[0] ?? 0;
  return data.subarray(1, 1 + length).toString('latin1') || 'no reason given';
}
