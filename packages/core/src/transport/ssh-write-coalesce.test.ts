import { once } from 'node:events';
import { createServer, Socket, type AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { coalesceWrites } from './ssh-write-coalesce.js';

/** A Duplex that records each write it is given, as a ProxyJump channel would see them. */
function recorder(): { stream: Duplex; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const stream = new Duplex({
    read() {
      // nothing to read
    },
    write(chunk: Buffer, _encoding, cb) {
      writes.push(chunk);
      cb();
    },
  });
  return { stream, writes };
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('coalesceWrites', () => {
  it('passes what a channel is given within one tick on as one write, in order', async () => {
    const { stream, writes } = recorder();
    coalesceWrites(stream);
    stream.write(Buffer.from([0, 0, 0, 5]));
    stream.write('SSH');
    stream.write(new Uint8Array([1, 2]));
    expect(writes).toHaveLength(0);
    await tick();
    expect(writes).toEqual([
      Buffer.concat([Buffer.from([0, 0, 0, 5]), Buffer.from('SSH'), Buffer.from([1, 2])]),
    ]);
    stream.write(Buffer.from('next'));
    await tick();
    expect(writes.map((w) => w.toString('latin1'))).toEqual([
      writes[0]?.toString('latin1'),
      'next',
    ]);
  });

  it("sends a channel's gathered bytes before its end", async () => {
    const { stream, writes } = recorder();
    coalesceWrites(stream);
    stream.write(Buffer.from('disconnect'));
    stream.end();
    await once(stream, 'finish');
    expect(Buffer.concat(writes).toString()).toBe('disconnect');
  });

  it('corks a socket for the rest of the tick, and everything arrives in order', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const received: Buffer[] = [];
    const done = new Promise<void>((resolve) => {
      server.on('connection', (peer) => {
        peer.on('data', (d: Buffer) => received.push(d));
        peer.on('end', () => {
          resolve();
        });
      });
    });
    const socket = new Socket();
    socket.connect((server.address() as AddressInfo).port, '127.0.0.1');
    coalesceWrites(socket);
    await once(socket, 'connect');
    socket.write(Buffer.from('len.'));
    expect(socket.writableCorked).toBe(1);
    socket.write(Buffer.from('payload.'));
    socket.write(Buffer.from('mac'));
    expect(socket.writableCorked).toBe(1);
    await tick();
    expect(socket.writableCorked).toBe(0);
    socket.write(Buffer.from('|last'));
    socket.end();
    await done;
    server.close();
    expect(Buffer.concat(received).toString()).toBe('len.payload.mac|last');
  });
});
