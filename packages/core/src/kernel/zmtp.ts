/**
 * ZMTP 3.1 (ZeroMQ's wire protocol, rfc.zeromq.org/spec/37) with the NULL mechanism, as Jupyter
 * kernels speak it: the greeting, READY and the few other commands, and message frames. Pure:
 * bytes in, events out. The launcher speaks it itself instead of through libzmq so that a
 * forwarded message costs one read and one write in one thread, with no hand-off to libzmq's I/O
 * thread and back on each side (two thread wake-ups per message and direction).
 */

/** Socket types the launcher uses, and those it accepts as peers of each. */
export type ZmtpSocketType = 'ROUTER' | 'PUB' | 'REP' | 'DEALER' | 'SUB';

const PEERS: Readonly<Record<ZmtpSocketType, readonly string[]>> = {
  ROUTER: ['REQ', 'DEALER', 'ROUTER'],
  PUB: ['SUB', 'XSUB'],
  REP: ['REQ', 'DEALER'],
  DEALER: ['REP', 'DEALER', 'ROUTER'],
  SUB: ['PUB', 'XPUB'],
};

export function acceptsPeer(ours: ZmtpSocketType, theirs: string): boolean {
  return PEERS[ours].includes(theirs);
}

export const GREETING_BYTES = 64;

const FLAG_MORE = 0x01;
const FLAG_LONG = 0x02;
const FLAG_COMMAND = 0x04;

/**
 * A command larger than this is refused: READY carries a few short properties, SUBSCRIBE a topic
 * prefix. It also bounds the whole handshake: the 64-byte greeting, then one READY.
 */
export const MAX_COMMAND_BYTES = 64 * 1024;
/**
 * The largest message (all its frames) taken from a peer. Jupyter messages of tens of MiB are
 * normal (a plot, a widget's buffers, a dataframe's HTML); 1 GiB is far above any of those and
 * well below what a Node Buffer can hold (4 GiB), so a frame header announcing more, such as
 * 2^62 bytes, ends the connection as soon as the header is read, before a byte is buffered.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024 * 1024;
/**
 * The most frames in one message. A Jupyter message is its routing identities, the delimiter,
 * five frames and its buffers (a widget or Arrow message carries a few dozen): 10,000 is far
 * above that, and caps what endless MORE frames of zero bytes can make this process hold.
 */
export const MAX_FRAMES = 10_000;

export class ZmtpProtocolError extends Error {
  override readonly name: string = 'ZmtpProtocolError';
}

/** A peer went past one of the bounds above: the connection is closed, with this reason. */
export class ZmtpLimitError extends ZmtpProtocolError {
  override readonly name = 'ZmtpLimitError';
}

/** Our greeting: signature, version 3.1, the NULL mechanism, not as-server. */
export function greeting(): Buffer {
  const g = Buffer.alloc(GREETING_BYTES);
  g[0] = 0xff;
  g[8] = 0x01; // the padding reads as a ZMTP 1.0 length of 1, as libzmq sends it
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 1;
  g.write('NULL', 12, 'latin1');
  return g;
}

/**
 * Checks as much of a peer's greeting as has arrived, so a peer that is not ZMTP 3 with NULL is
 * refused at once with a reason. Returns the peer's minor version once all 64 bytes are there.
 */
export function checkGreeting(bytes: Buffer): number | undefined {
  if (bytes.length >= 1 && bytes[0] !== 0xff) {
    throw new ZmtpProtocolError('the peer does not speak ZeroMQ (no ZMTP signature)');
  }
  if (bytes.length >= 10 && ((bytes[9] ?? 0) & 0x01) !== 0x01) {
    throw new ZmtpProtocolError('the peer speaks ZMTP 1.0 (libzmq 2); ZMTP 3 is needed');
  }
  if (bytes.length >= 11 && (bytes[10] ?? 0) < 3) {
    throw new ZmtpProtocolError(
      `the peer speaks ZMTP ${String(bytes[10])}.x (libzmq before 4); ZMTP 3 is needed`,
    );
  }
  if (bytes.length < GREETING_BYTES) return undefined;
  const mechanism = bytes.subarray(12, 32).toString('latin1').replace(/\0+$/, '');
  if (mechanism !== 'NULL') {
    throw new ZmtpProtocolError(
      `the peer asks for the ${mechanism} security mechanism; Jupyter's kernel ports use NULL ` +
        '(messages are signed with the connection file key instead)',
    );
  }
  return bytes[11] ?? 0;
}

/** A command frame: name and data. */
export function command(name: string, data: Buffer = Buffer.alloc(0)): Buffer {
  const body = Buffer.allocUnsafe(1 + name.length + data.length);
  body[0] = name.length;
  body.write(name, 1, 'latin1');
  data.copy(body, 1 + name.length);
  return Buffer.concat([frameHeader(body.length, FLAG_COMMAND), body]);
}

/** READY with its properties (Socket-Type, and Identity for the socket types that route). */
export function ready(properties: Readonly<Record<string, Buffer | string>>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, raw] of Object.entries(properties)) {
    const value = typeof raw === 'string' ? Buffer.from(raw, 'latin1') : raw;
    const head = Buffer.allocUnsafe(1 + name.length + 4);
    head[0] = name.length;
    head.write(name, 1, 'latin1');
    head.writeUInt32BE(value.length, 1 + name.length);
    parts.push(head, value);
  }
  return command('READY', Buffer.concat(parts));
}

/** The properties of a READY command's data (names lower-cased: they are case-insensitive). */
export function parseProperties(data: Buffer): Map<string, Buffer> {
  const properties = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const nameLength = data[at] ?? 0;
    if (at + 1 + nameLength + 4 > data.length) throw new ZmtpProtocolError('a malformed READY');
    const name = data.subarray(at + 1, at + 1 + nameLength).toString('latin1');
    const valueLength = data.readUInt32BE(at + 1 + nameLength);
    const start = at + 1 + nameLength + 4;
    if (start + valueLength > data.length) throw new ZmtpProtocolError('a malformed READY');
    properties.set(name.toLowerCase(), data.subarray(start, start + valueLength));
    at = start + valueLength;
  }
  return properties;
}

function frameHeader(length: number, flags: number): Buffer {
  if (length <= 0xff) return Buffer.from([flags, length]);
  const header = Buffer.allocUnsafe(9);
  header[0] = flags | FLAG_LONG;
  header.writeBigUInt64BE(BigInt(length), 1);
  return header;
}

/** A message's frames on the wire, as pieces to write in order (bodies are not copied). */
export function encodeMessage(frames: readonly Buffer[]): Buffer[] {
  const pieces: Buffer[] = [];
  const last = frames.length - 1;
  frames.forEach((frame, i) => {
    pieces.push(frameHeader(frame.length, i < last ? FLAG_MORE : 0), frame);
  });
  return pieces;
}

export type ZmtpEvent =
  | { readonly kind: 'message'; readonly frames: Buffer[] }
  | { readonly kind: 'command'; readonly name: string; readonly data: Buffer };

export interface ZmtpDecoderOptions {
  /** Refuse message frames until `handshakeDone()`: before READY only commands may come. */
  readonly handshake?: boolean;
  readonly maxMessageBytes?: number;
  readonly maxFrames?: number;
}

/**
 * Turns the bytes after the greeting into commands and whole messages, however the stream is cut
 * into chunks. A frame's body is copied at most once (when it spans chunks). Every bound is
 * checked on the frame's header, so nothing beyond a bound is ever buffered.
 */
export class ZmtpDecoder {
  /** Received bytes not yet decoded: `chunks` from index `head` on (no shift() per chunk). */
  private chunks: Buffer[] = [];
  private head = 0;
  private buffered = 0;
  private frames: Buffer[] = [];
  /** The bytes of `frames` so far. */
  private messageBytes = 0;
  private handshaking: boolean;
  private readonly maxMessageBytes: number;
  private readonly maxFrames: number;

  constructor(options: ZmtpDecoderOptions = {}) {
    this.handshaking = options.handshake === true;
    this.maxMessageBytes = options.maxMessageBytes ?? MAX_MESSAGE_BYTES;
    this.maxFrames = options.maxFrames ?? MAX_FRAMES;
  }

  /** The peer's READY came: message frames may follow. */
  handshakeDone(): void {
    this.handshaking = false;
  }

  push(chunk: Buffer, emit: (event: ZmtpEvent) => void): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.buffered < 2) return;
      const flags = this.byteAt(0);
      const long = (flags & FLAG_LONG) !== 0;
      const headerLength = long ? 9 : 2;
      if (this.buffered < headerLength) return;
      const length = long ? this.longLength() : this.byteAt(1);
      this.checkBounds(flags, length);
      if (this.buffered < headerLength + length) return;
      this.take(headerLength);
      const body = this.take(length);
      if ((flags & FLAG_COMMAND) !== 0) {
        if (this.frames.length > 0) throw new ZmtpProtocolError('a command inside a message');
        const nameLength = body[0] ?? 0;
        if (body.length < 1 + nameLength) throw new ZmtpProtocolError('a malformed command');
        emit({
          kind: 'command',
          name: body.subarray(1, 1 + nameLength).toString('latin1'),
          data: body.subarray(1 + nameLength),
        });
        continue;
      }
      this.frames.push(body);
      this.messageBytes += body.length;
      if ((flags & FLAG_MORE) === 0) {
        const frames = this.frames;
        this.frames = [];
        this.messageBytes = 0;
        emit({ kind: 'message', frames });
      }
    }
  }

  /** Throws when the frame whose header was just read would pass a bound. */
  private checkBounds(flags: number, length: number): void {
    if ((flags & FLAG_COMMAND) !== 0) {
      if (length > MAX_COMMAND_BYTES) {
        throw new ZmtpLimitError(`a ${length}-byte command (at most ${MAX_COMMAND_BYTES})`);
      }
      return;
    }
    if (this.handshaking) {
      throw new ZmtpProtocolError('a message frame before the handshake (READY) was done');
    }
    if (length > this.maxMessageBytes - this.messageBytes) {
      throw new ZmtpLimitError(
        `a ${length}-byte frame would make a message of more than ${this.maxMessageBytes} bytes`,
      );
    }
    if (this.frames.length + 1 > this.maxFrames) {
      throw new ZmtpLimitError(`a message of more than ${this.maxFrames} frames`);
    }
  }

  private byteAt(offset: number): number {
    let at = offset;
    for (let i = this.head; i < this.chunks.length; i++) {
      const chunk = this.chunks[i] as Buffer;
      if (at < chunk.length) return chunk[at] ?? 0;
      at -= chunk.length;
    }
    return 0;
  }

  private longLength(): number {
    let value = 0n;
    for (let i = 1; i < 9; i++) value = (value << 8n) | BigInt(this.byteAt(i));
    if (value > BigInt(this.maxMessageBytes)) {
      throw new ZmtpLimitError(
        `a ${value}-byte frame (a message may have at most ${this.maxMessageBytes} bytes)`,
      );
    }
    return Number(value);
  }

  /** The next `n` buffered bytes (there are at least `n`), as a view when in one chunk. */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.buffered -= n;
    const first = this.chunks[this.head] as Buffer;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.head++;
      else this.chunks[this.head] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.chunks[this.head] as Buffer;
        const used = Math.min(chunk.length, n - filled);
        chunk.copy(out, filled, 0, used);
        filled += used;
        if (used === chunk.length) this.head++;
        else this.chunks[this.head] = chunk.subarray(used);
      }
    }
    if (this.head === this.chunks.length) {
      this.chunks = [];
      this.head = 0;
    } else if (this.head >= 1024) {
      this.chunks = this.chunks.slice(this.head);
      this.head = 0;
    }
    return out;
  }
}
