/**
 * One ZMTP 3 connection over a TCP or Unix socket: the handshake (greeting and READY, with the
 * peer's socket type checked), then whole messages in and out. Answers PING with PONG; turns a
 * subscriber's subscriptions (as messages, ZMTP 3.0, or commands, 3.1) into events. Owns its
 * socket.
 */
import type { Socket } from 'node:net';
import {
  GREETING_BYTES,
  ZmtpDecoder,
  type ZmtpEvent,
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
const HANDSHAKE_MS = 10_000;
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
  readonly onReady: (peer: ZmtpPeer) => void;
  readonly onMessage: (frames: Buffer[]) => void;
  /** PUB only: a subscription (`subscribe` true) or its cancellation, with its topic prefix. */
  readonly onSubscription?: (topic: Buffer, subscribe: boolean) => void;
  /** Once, when the connection is gone; `error` says why when it was not a clean close. */
  readonly onClose: (error?: Error) => void;
}

export class ZmtpConnection {
  private peerGreeting: Buffer | undefined = Buffer.alloc(0);
  private readonly decoder = new ZmtpDecoder();
  private peer: ZmtpPeer | undefined;
  private closed = false;
  private readonly handshakeTimer: NodeJS.Timeout;

  constructor(
    readonly socket: Socket,
    private readonly options: ZmtpConnectionOptions,
  ) {
    socket.setNoDelay(true);
    const properties: Record<string, Buffer | string> = { 'Socket-Type': options.type };
    if (options.type === 'DEALER' || options.type === 'ROUTER') {
      properties['Identity'] = options.identity ?? Buffer.alloc(0);
    }
    socket.write(Buffer.concat([greeting(), ready(properties)]));
    this.handshakeTimer = setTimeout(() => {
      this.fail(new ZmtpProtocolError(`no ZMTP handshake within ${HANDSHAKE_MS / 1000} s`));
    }, HANDSHAKE_MS);
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

  /** Writes one message; false (and nothing written) before the handshake or after close. */
  send(frames: readonly Buffer[]): boolean {
    if (!this.isReady) return false;
    const pieces = encodeMessage(frames);
    let size = 0;
    for (const piece of pieces) size += piece.length;
    if (size <= COALESCE_BYTES) {
      this.socket.write(Buffer.concat(pieces, size));
    } else {
      this.socket.cork();
      for (const piece of pieces) this.socket.write(piece);
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
    switch (name) {
      case 'READY': {
        if (this.peer !== undefined) throw new ZmtpProtocolError('a second READY');
        const properties = parseProperties(data);
        const socketType = properties.get('socket-type')?.toString('latin1') ?? '';
        if (!acceptsPeer(this.options.type, socketType)) {
          this.socket.write(command('ERROR', reason('Invalid socket type')));
          throw new ZmtpProtocolError(
            `a ${socketType || 'untyped'} socket cannot talk to this ${this.options.type} socket`,
          );
        }
        clearTimeout(this.handshakeTimer);
        this.peer = { socketType, identity: properties.get('identity') ?? Buffer.alloc(0) };
        this.options.onReady(this.peer);
        return;
      }
      case 'ERROR':
        throw new ZmtpProtocolError(`the peer ended the connection: ${errorReason(data)}`);
      case 'PING':
        // TTL (2 bytes), then up to 16 bytes of context, sent back in the PONG.
        this.socket.write(command('PONG', data.subarray(2, 18)));
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
    this.socket.destroy();
  }

  private finish(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.handshakeTimer);
    this.options.onClose(error);
  }
}

function reason(text: string): Buffer {
  return Buffer.concat([Buffer.from([text.length]), Buffer.from(text, 'latin1')]);
}

function errorReason(data: Buffer): string {
  const length = data[0] ?? 0;
  return data.subarray(1, 1 + length).toString('latin1') || 'no reason given';
}
