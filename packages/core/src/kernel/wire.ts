/**
 * The Jupyter messaging wire format: `[identities..., "<IDS|MSG>", signature, header,
 * parent_header, metadata, content, buffers...]`, with the signature an HMAC (hex) of the four
 * JSON frames under the connection file's key. Pure: frames in, frames out. Messages that are
 * only passed along stay as their original frames, so forwarding never re-serialises or re-signs.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

export const DELIMITER = Buffer.from('<IDS|MSG>');
export const PROTOCOL_VERSION = '5.3';

export interface MessageHeader {
  readonly msg_id: string;
  readonly session: string;
  readonly username: string;
  readonly date: string;
  readonly msg_type: string;
  readonly version: string;
  readonly subshell_id?: string | null;
}

/** A message as frames, split where the protocol splits it; JSON frames stay unparsed. */
export interface WireFrames {
  readonly identities: readonly Buffer[];
  readonly signature: Buffer;
  readonly header: Buffer;
  readonly parentHeader: Buffer;
  readonly metadata: Buffer;
  readonly content: Buffer;
  readonly buffers: readonly Buffer[];
}

export class WireError extends Error {
  override readonly name = 'WireError';
}

/** Splits a received multipart message at the delimiter. */
export function splitFrames(frames: readonly Buffer[]): WireFrames {
  const at = frames.findIndex((f) => f.equals(DELIMITER));
  if (at < 0) throw new WireError('no <IDS|MSG> delimiter');
  if (frames.length < at + 6) throw new WireError('fewer than five frames after the delimiter');
  const part = (i: number): Buffer => frames[at + i] as Buffer;
  return {
    identities: frames.slice(0, at),
    signature: part(1),
    header: part(2),
    parentHeader: part(3),
    metadata: part(4),
    content: part(5),
    buffers: frames.slice(at + 6),
  };
}

/** The frames of a message, ready to send. */
export function joinFrames(m: WireFrames): Buffer[] {
  return [
    ...m.identities,
    DELIMITER,
    m.signature,
    m.header,
    m.parentHeader,
    m.metadata,
    m.content,
    ...m.buffers,
  ];
}

/**
 * Signs and checks messages with the connection's key and scheme (`hmac-sha256`, or any
 * `hmac-<digest>` Node knows). An empty key means unsigned messages, as in Jupyter.
 */
export class Signer {
  private readonly key: Buffer;
  private readonly digest: string;

  constructor(key: string, scheme = 'hmac-sha256') {
    const m = /^hmac-([a-z0-9-]+)$/.exec(scheme);
    if (m?.[1] === undefined) throw new WireError(`unsupported signature scheme ${scheme}`);
    this.digest = m[1];
    this.key = Buffer.from(key, 'utf8');
    // Fails now, not on the first message, if Node does not know the digest.
    createHmac(this.digest, 'probe');
  }

  get signs(): boolean {
    return this.key.length > 0;
  }

  sign(header: Buffer, parentHeader: Buffer, metadata: Buffer, content: Buffer): Buffer {
    if (!this.signs) return Buffer.alloc(0);
    const hmac = createHmac(this.digest, this.key);
    hmac.update(header);
    hmac.update(parentHeader);
    hmac.update(metadata);
    hmac.update(content);
    return Buffer.from(hmac.digest('hex'), 'ascii');
  }

  /** True when the message carries the signature the key gives it (in constant time). */
  verify(m: WireFrames): boolean {
    if (!this.signs) return true;
    const expected = this.sign(m.header, m.parentHeader, m.metadata, m.content);
    return expected.length === m.signature.length && timingSafeEqual(expected, m.signature);
  }
}

export function parseHeader(frame: Buffer): MessageHeader {
  let value: unknown;
  try {
    value = JSON.parse(frame.toString('utf8'));
  } catch {
    throw new WireError('the header is not JSON');
  }
  if (typeof value !== 'object' || value === null)
    throw new WireError('the header is not an object');
  const h = value as Record<string, unknown>;
  if (typeof h['msg_id'] !== 'string' || typeof h['msg_type'] !== 'string') {
    throw new WireError('the header lacks msg_id or msg_type');
  }
  return value as MessageHeader;
}

export function parseJson(frame: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(frame.toString('utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

export interface NewMessage {
  readonly msgType: string;
  readonly content: unknown;
  /** The request this answers or is about (its header frame, unparsed, is enough). */
  readonly parentHeader?: Buffer;
  readonly metadata?: unknown;
  readonly identities?: readonly Buffer[];
}

/** Makes signed messages as one kernel session (one `session` id, like a kernel process). */
export class MessageFactory {
  readonly session = randomUUID();

  constructor(
    private readonly signer: Signer,
    private readonly username = 'hpc-jupyter',
  ) {}

  header(msgType: string): MessageHeader {
    return {
      msg_id: randomUUID(),
      session: this.session,
      username: this.username,
      date: new Date().toISOString(),
      msg_type: msgType,
      version: PROTOCOL_VERSION,
    };
  }

  make(m: NewMessage): Buffer[] {
    const header = Buffer.from(JSON.stringify(this.header(m.msgType)));
    const parentHeader = m.parentHeader ?? Buffer.from('{}');
    const metadata = Buffer.from(JSON.stringify(m.metadata ?? {}));
    const content = Buffer.from(JSON.stringify(m.content));
    return joinFrames({
      identities: m.identities ?? [],
      signature: this.signer.sign(header, parentHeader, metadata, content),
      header,
      parentHeader,
      metadata,
      content,
      buffers: [],
    });
  }
}
