/**
 * One write per SSH packet instead of three. ssh2 without its optional native crypto (the way it
 * installs here: no compiler at install time) writes every encrypted packet to its socket in
 * pieces: the 4-byte length, the ciphertext and the 16-byte MAC, each a `write()` of its own.
 * With TCP_NODELAY on (needed, see ssh-connect.ts) each piece is a syscall and a segment of its
 * own, and sshd wakes for each: measured 3 segments per kernel message through the tunnel.
 *
 * `coalesceWrites` gathers what is written to a stream within one tick and passes it on in one
 * go when the tick ends (a net.Socket is corked, so its writev sends all pieces at once; any
 * other stream, such as a ProxyJump channel whose every write is a packet of the outer
 * connection, gets the pieces as one buffer). Nothing waits longer than the current tick.
 * Call it on a socket after `connect()`: net.Socket's connect() puts its prototype's write() back.
 *
 * The forwards use it on their local sockets too: TLS records decrypted from one read (a
 * kernel's status and output, arriving together) reach the client in one write.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

type Write = Duplex['write'];

export function coalesceWrites(stream: Duplex): void {
  if (stream instanceof Socket) {
    corkPerTick(stream);
    return;
  }
  concatPerTick(stream);
}

function corkPerTick(socket: Socket): void {
  const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  socket.write = (...args: unknown[]): boolean => {
    if (!corked) {
      corked = true;
      socket.cork();
      process.nextTick(uncork);
    }
    return write(...args);
  };
}

function concatPerTick(stream: Duplex): void {
  const write = stream.write.bind(stream) as (chunk: Buffer) => boolean;
  let pending: Buffer[] = [];
  const flush = (): void => {
    if (pending.length === 0) return;
    const chunks = pending;
    pending = [];
    if (stream.writable) write(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
  };
  // What is gathered goes out before the end (ssh2 ends right after its DISCONNECT packet).
  const end = stream.end.bind(stream) as (...args: unknown[]) => Duplex;
  stream.end = ((...args: unknown[]): Duplex => {
    flush();
    return end(...args);
  }) as Duplex['end'];
  stream.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
    if (pending.length === 0) process.nextTick(flush);
    // ssh2 writes buffers, and its greeting as a string (ASCII).
    pending.push(
      Buffer.isBuffer(chunk)
        ? chunk
        : typeof chunk === 'string'
          ? Buffer.from(chunk, 'latin1')
          : Buffer.from(chunk as Uint8Array),
    );
    const cb = rest.find((r): r is (err?: Error | null) => void => typeof r === 'function');
    if (cb !== undefined) process.nextTick(cb);
    return true;
  }) as Write;
}
