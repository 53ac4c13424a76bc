// The ZMTP 3.1 codec on its own: frames and commands through the encoder and the decoder however
// the stream is cut, the greeting check, the limits the decoder enforces (command, frame and
// message size, frames per message, nothing but commands in the handshake), which socket types may
// talk to which, and the endpoint syntax of connection files. The same code against real libzmq
// is in zmtp-sockets.test.ts.
import { describe, expect, it } from 'vitest';
import { parseEndpoint } from './zmtp-sockets.js';
import {
  acceptsPeer,
  checkGreeting,
  command,
  encodeMessage,
  greeting,
  parseProperties,
  ready,
  MAX_FRAMES,
  MAX_MESSAGE_BYTES,
  ZmtpDecoder,
  type ZmtpEvent,
  ZmtpLimitError,
  ZmtpProtocolError,
} from './zmtp.js';

/** Bytes that differ from frame to frame and position to position (no run of zeros to hide in). */
function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/** Feeds `bytes` to a fresh decoder `size` bytes at a time; returns what it emitted. */
function decodeInChunks(bytes: Buffer, size: number): ZmtpEvent[] {
  const decoder = new ZmtpDecoder();
  const events: ZmtpEvent[] = [];
  for (let at = 0; at < bytes.length; at += size) {
    decoder.push(bytes.subarray(at, at + size), (e) => events.push(e));
  }
  return events;
}

function decodeAll(bytes: Buffer): ZmtpEvent[] {
  return decodeInChunks(bytes, bytes.length);
}

/** A greeting with `change` applied to a copy of ours. */
function alteredGreeting(change: (g: Buffer) => void): Buffer {
  const g = greeting();
  change(g);
  return g;
}

describe('ZMTP messages through the encoder and the decoder', () => {
  const frames = [
    Buffer.alloc(0),
    Buffer.from('hi'),
    pattern(255, 1), // the longest short frame
    pattern(256, 2), // the shortest long frame
    pattern(4096, 3),
    pattern(1024 * 1024, 4),
  ];
  const message = Buffer.concat(encodeMessage(frames));

  /** `body` between a READY and a one-frame message: the decoder must find every boundary. */
  function streamOf(body: readonly Buffer[]): Buffer {
    return Buffer.concat([
      ready({ 'Socket-Type': 'DEALER' }),
      ...encodeMessage(body),
      ...encodeMessage([Buffer.from('next')]),
    ]);
  }

  function expectDecoded(events: ZmtpEvent[], body: readonly Buffer[]): void {
    expect(events.map((e) => e.kind)).toEqual(['command', 'message', 'message']);
    const [readyEvent, decoded, next] = events as [ZmtpEvent, ZmtpEvent, ZmtpEvent];
    expect(readyEvent.kind === 'command' && readyEvent.name).toBe('READY');
    if (decoded.kind !== 'message' || next.kind !== 'message') throw new Error('not messages');
    expect(decoded.frames.map((f) => f.length)).toEqual(body.map((f) => f.length));
    decoded.frames.forEach((f, i) => {
      expect(f.equals(body[i] as Buffer), `frame ${i}`).toBe(true);
    });
    expect(next.frames.map((f) => f.toString())).toEqual(['next']);
  }

  it('uses short headers up to 255 bytes and long ones from 256, MORE on all but the last', () => {
    const pieces = encodeMessage(frames);
    expect(pieces).toHaveLength(2 * frames.length);
    expect([...(pieces[0] as Buffer)]).toEqual([0x01, 0]);
    expect([...(pieces[2] as Buffer)]).toEqual([0x01, 2]);
    expect([...(pieces[4] as Buffer)]).toEqual([0x01, 255]);
    expect([...(pieces[6] as Buffer)]).toEqual([0x03, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect([...(pieces[10] as Buffer)]).toEqual([0x02, 0, 0, 0, 0, 0, 0x10, 0, 0]);
    // The bodies go out as they are, not copied.
    expect(pieces[11]).toBe(frames[5]);
  });

  // Every cut of every header, with frames up to 4 KiB. (The 1 MiB frame is left out at these
  // sizes: see the skipped test below.)
  const small = frames.slice(0, 5);
  const smallStream = streamOf(small);
  it.each([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255, 256, 257, smallStream.length])(
    'decodes the same frames up to 4 KiB from chunks of %i bytes',
    (size) => {
      expectDecoded(decodeInChunks(smallStream, size), small);
    },
  );

  const stream = streamOf(frames);
  it.each([1000, 1460, 4093, 65536, stream.length])(
    'decodes the same frames with 1 MiB from chunks of %i bytes',
    (size) => {
      expectDecoded(decodeInChunks(stream, size), frames);
    },
  );

  // A frame of a million 1-byte reads: each read is consumed by index, so this is linear (with
  // one shift() per read it was quadratic: V8 copies a large array on every shift, 450 s here).
  it('decodes a 1 MiB frame that arrived in 1-byte chunks', () => {
    expectDecoded(decodeInChunks(stream, 1), frames);
  });

  it('emits nothing until the last frame of a message is complete', () => {
    const decoder = new ZmtpDecoder();
    const events: ZmtpEvent[] = [];
    decoder.push(message.subarray(0, message.length - 1), (e) => events.push(e));
    expect(events).toEqual([]);
    decoder.push(message.subarray(message.length - 1), (e) => events.push(e));
    expect(events).toHaveLength(1);
  });

  it('keeps several messages in one chunk apart', () => {
    const bytes = Buffer.concat([
      ...encodeMessage([Buffer.from('a'), Buffer.from('b')]),
      ...encodeMessage([Buffer.from('c')]),
      ...encodeMessage([Buffer.alloc(0)]),
    ]);
    const messages = decodeAll(bytes).map((e) =>
      e.kind === 'message' ? e.frames.map((f) => f.toString()) : e.name,
    );
    expect(messages).toEqual([['a', 'b'], ['c'], ['']]);
  });
});

describe('ZMTP commands', () => {
  it('READY carries the socket type and identity, with property names lower-cased', () => {
    const identity = Buffer.from([0, 1, 2, 0xff, 0x80]);
    const events = decodeAll(ready({ 'Socket-Type': 'DEALER', Identity: identity }));
    expect(events).toHaveLength(1);
    const [event] = events as [ZmtpEvent];
    if (event.kind !== 'command') throw new Error(`a ${event.kind}, not a command`);
    expect(event.name).toBe('READY');
    const properties = parseProperties(event.data);
    expect([...properties.keys()]).toEqual(['socket-type', 'identity']);
    expect(properties.get('socket-type')?.toString('latin1')).toBe('DEALER');
    expect(properties.get('identity')?.equals(identity)).toBe(true);
  });

  it('READY with an empty identity parses to an empty value', () => {
    const [event] = decodeAll(ready({ 'Socket-Type': 'ROUTER', Identity: Buffer.alloc(0) }));
    if (event?.kind !== 'command') throw new Error('not a command');
    expect(parseProperties(event.data).get('identity')).toEqual(Buffer.alloc(0));
  });

  it('a command keeps its data', () => {
    const [event] = decodeAll(command('PING', Buffer.from([0, 10, 0x61, 0x62])));
    expect(event).toEqual({
      kind: 'command',
      name: 'PING',
      data: Buffer.from([0, 10, 0x61, 0x62]),
    });
  });

  it('refuses malformed READY properties', () => {
    // A name that says 5 bytes, then too few bytes for the name and the value length.
    expect(() => parseProperties(Buffer.from([5, 0x61, 0x62]))).toThrow(ZmtpProtocolError);
    // A value length beyond the data.
    const overlong = Buffer.from([1, 0x61, 0, 0, 0, 9, 0x62]);
    expect(() => parseProperties(overlong)).toThrow(ZmtpProtocolError);
  });
});

describe('checkGreeting', () => {
  it('accepts our own greeting as ZMTP 3.1', () => {
    const g = greeting();
    expect(g).toHaveLength(64);
    expect(checkGreeting(g)).toBe(1);
  });

  it('accepts a ZMTP 3.0 peer (libzmq 4.1) with its minor version', () => {
    expect(checkGreeting(alteredGreeting((g) => (g[11] = 0)))).toBe(0);
  });

  it('waits for the rest of a greeting that is good so far', () => {
    const g = greeting();
    expect(checkGreeting(Buffer.alloc(0))).toBeUndefined();
    for (const n of [1, 10, 11, 12, 32, 63])
      expect(checkGreeting(g.subarray(0, n))).toBeUndefined();
  });

  it('refuses the CURVE mechanism, saying so', () => {
    const curve = alteredGreeting((g) => {
      g.fill(0, 12, 32);
      g.write('CURVE', 12, 'latin1');
    });
    expect(() => checkGreeting(curve)).toThrow(ZmtpProtocolError);
    expect(() => checkGreeting(curve)).toThrow(/CURVE security mechanism/);
  });

  it('refuses ZMTP 2 as soon as the version byte is there', () => {
    const v2 = alteredGreeting((g) => (g[10] = 2));
    expect(() => checkGreeting(v2)).toThrow(ZmtpProtocolError);
    expect(() => checkGreeting(v2)).toThrow(/ZMTP 2\.x.*ZMTP 3 is needed/);
    expect(() => checkGreeting(v2.subarray(0, 11))).toThrow(/ZMTP 2\.x/);
  });

  it('refuses ZMTP 1.0 (no version byte)', () => {
    const v1 = alteredGreeting((g) => (g[9] = 0));
    expect(() => checkGreeting(v1.subarray(0, 10))).toThrow(/ZMTP 1\.0/);
  });

  it('refuses bytes without the 0xFF signature from the first byte', () => {
    const http = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'.padEnd(64, ' '));
    expect(() => checkGreeting(http)).toThrow(ZmtpProtocolError);
    expect(() => checkGreeting(http)).toThrow(/does not speak ZeroMQ/);
    expect(() => checkGreeting(http.subarray(0, 1))).toThrow(/no ZMTP signature/);
  });
});

describe('the decoder refuses', () => {
  it('a command longer than 64 KiB, as soon as its header arrives', () => {
    const big = command('READY', Buffer.alloc(64 * 1024));
    expect(() => decodeAll(big)).toThrow(ZmtpProtocolError);
    expect(() => decodeAll(big)).toThrow(/command/);
    // The nine header bytes are enough: the body is not waited for (nor buffered).
    expect(() => decodeAll(big.subarray(0, 9))).toThrow(ZmtpProtocolError);
  });

  it('but takes a command of exactly 64 KiB', () => {
    const limit = command('X', Buffer.alloc(64 * 1024 - 2));
    expect(limit.length).toBe(9 + 64 * 1024);
    const [event] = decodeAll(limit);
    expect(event?.kind === 'command' && event.data.length).toBe(64 * 1024 - 2);
  });

  it('while a message frame of the same size passes', () => {
    const [event] = decodeAll(Buffer.concat(encodeMessage([Buffer.alloc(64 * 1024 + 1)])));
    expect(event?.kind === 'message' && event.frames[0]?.length).toBe(64 * 1024 + 1);
  });

  it('a command between the frames of a message', () => {
    const [first] = encodeMessage([Buffer.from('a'), Buffer.from('b')]); // header with MORE
    const bytes = Buffer.concat([first as Buffer, Buffer.from('a'), command('PING')]);
    const events: ZmtpEvent[] = [];
    const decoder = new ZmtpDecoder();
    expect(() => {
      decoder.push(bytes, (e) => events.push(e));
    }).toThrow(ZmtpProtocolError);
    expect(() => decodeAll(bytes)).toThrow(/command inside a message/);
    expect(events).toEqual([]);
  });

  it('a command too short for its own name', () => {
    // Flags: command; length 2; the name length says 5.
    expect(() => decodeAll(Buffer.from([0x04, 2, 5, 0x41]))).toThrow(ZmtpProtocolError);
  });
});

describe('the bounds on messages', () => {
  /** A long frame header (flags, then 8 bytes of length). */
  function longHeader(flags: number, length: bigint): Buffer {
    const header = Buffer.alloc(9);
    header[0] = flags | 0x02;
    header.writeBigUInt64BE(length, 1);
    return header;
  }

  it('refuse a frame header announcing 2^62 bytes from its nine bytes alone', () => {
    const header = longHeader(0, 2n ** 62n);
    expect(() => decodeAll(header)).toThrow(ZmtpLimitError);
    expect(() => decodeAll(header)).toThrow(
      `a ${2n ** 62n}-byte frame (a message may have at most ${MAX_MESSAGE_BYTES} bytes)`,
    );
    // Eight bytes are not a header yet: nothing to say.
    expect(decodeAll(header.subarray(0, 8))).toEqual([]);
  });

  it('refuse a frame of 1 GiB + 1 at its header, and frames adding up past 1 GiB', () => {
    expect(MAX_MESSAGE_BYTES).toBe(1024 ** 3);
    expect(() => decodeAll(longHeader(0, BigInt(MAX_MESSAGE_BYTES) + 1n))).toThrow(ZmtpLimitError);
    // A 1 GiB frame announced is taken as far as its header (the body would be waited for).
    expect(decodeAll(longHeader(0, BigInt(MAX_MESSAGE_BYTES)))).toEqual([]);
    const decoder = new ZmtpDecoder({ maxMessageBytes: 1000 });
    const events: ZmtpEvent[] = [];
    decoder.push(Buffer.concat(encodeMessage([Buffer.alloc(600), Buffer.alloc(400)])), (e) =>
      events.push(e),
    );
    expect(events).toHaveLength(1); // exactly 1000 bytes pass
    const [first] = encodeMessage([Buffer.alloc(600), Buffer.alloc(1)]);
    decoder.push(Buffer.concat([first as Buffer, Buffer.alloc(600)]), (e) => events.push(e));
    expect(() => {
      decoder.push(longHeader(0, 401n), (e) => events.push(e));
    }).toThrow('a 401-byte frame would make a message of more than 1000 bytes');
    expect(events).toHaveLength(1);
  });

  it('refuse a message of more than 10,000 frames, and take one of exactly 10,000', () => {
    expect(MAX_FRAMES).toBe(10_000);
    const frames = Array.from({ length: MAX_FRAMES }, () => Buffer.alloc(0));
    const [event] = decodeAll(Buffer.concat(encodeMessage(frames)));
    expect(event?.kind === 'message' && event.frames.length).toBe(MAX_FRAMES);
    const endless = Buffer.alloc(2 * (MAX_FRAMES + 1));
    for (let i = 0; i < endless.length; i += 2) endless[i] = 0x01; // MORE, no bytes
    expect(() => decodeAll(endless)).toThrow(`a message of more than ${MAX_FRAMES} frames`);
    // The count is per message: a new message starts again from zero.
    const two = Buffer.concat([...encodeMessage(frames), ...encodeMessage(frames)]);
    expect(decodeAll(two)).toHaveLength(2);
  });

  it('refuse a message frame during the handshake, at its header; commands pass', () => {
    const decoder = new ZmtpDecoder({ handshake: true });
    const events: ZmtpEvent[] = [];
    decoder.push(ready({ 'Socket-Type': 'DEALER' }), (e) => events.push(e));
    expect(events.map((e) => e.kind)).toEqual(['command']);
    expect(() => {
      decoder.push(longHeader(0, 1024n * 1024n), (e) => events.push(e));
    }).toThrow('a message frame before the handshake (READY) was done');
    const after = new ZmtpDecoder({ handshake: true });
    after.handshakeDone();
    after.push(Buffer.concat(encodeMessage([Buffer.from('ok')])), (e) => events.push(e));
    expect(events.map((e) => e.kind)).toEqual(['command', 'message']);
  });
});

describe('acceptsPeer', () => {
  it.each([
    ['ROUTER', 'DEALER', true],
    ['ROUTER', 'REQ', true],
    ['ROUTER', 'PUB', false],
    ['ROUTER', 'SUB', false],
    ['PUB', 'SUB', true],
    ['PUB', 'XSUB', true],
    ['PUB', 'DEALER', false],
    ['PUB', 'PUB', false],
    ['SUB', 'PUB', true],
    ['SUB', 'XPUB', true],
    ['SUB', 'SUB', false],
    ['REP', 'REQ', true],
    ['REP', 'REP', false],
    ['DEALER', 'ROUTER', true],
    ['DEALER', 'PUB', false],
    ['ROUTER', '', false],
  ] as const)('%s with a %s peer: %s', (ours, theirs, expected) => {
    expect(acceptsPeer(ours, theirs)).toBe(expected);
  });
});

describe('parseEndpoint', () => {
  it.each([
    ['tcp://127.0.0.1:5555', { transport: 'tcp', host: '127.0.0.1', port: 5555 }],
    ['tcp://[::1]:5555', { transport: 'tcp', host: '::1', port: 5555 }],
    ['tcp://*:5555', { transport: 'tcp', host: '0.0.0.0', port: 5555 }],
    ['tcp://localhost:1', { transport: 'tcp', host: 'localhost', port: 1 }],
    ['ipc:///tmp/x', { transport: 'ipc', path: '/tmp/x' }],
  ])('%s', (endpoint, expected) => {
    expect(parseEndpoint(endpoint)).toEqual(expected);
  });

  it.each(['udp://x', 'tcp://127.0.0.1', 'tcp://127.0.0.1:port', '127.0.0.1:5555', ''])(
    'refuses %j',
    (endpoint) => {
      expect(() => parseEndpoint(endpoint)).toThrow(/not a ZeroMQ tcp:\/\/ or ipc:\/\/ address/);
    },
  );
});
