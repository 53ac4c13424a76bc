/**
 * The check every local forward makes on an accepted connection, before it reads a byte or opens
 * anything upstream: the peer socket must be owned by this process's uid (loopback-peer.ts reads
 * that from /proc/net/tcp). Anyone else on this machine is refused, and the refusal is logged at
 * debug level with the peer's uid.
 */
import type { Socket } from 'node:net';
import { loopbackPeerUid } from '../util/loopback-peer.js';

/** Resolves true for our own peer; otherwise destroys the socket and resolves false. */
export async function refuseOtherUsers(
  socket: Socket,
  debug?: (message: string) => void,
  uid: number = process.getuid?.() ?? -1,
): Promise<boolean> {
  const peer = await loopbackPeerUid(socket);
  if (peer === uid && !socket.destroyed) return true;
  debug?.(
    `forward: refused a connection from ${socket.remoteAddress ?? '?'}:${String(socket.remotePort ?? '?')} ` +
      `(peer uid ${peer === undefined ? 'unknown' : String(peer)}, not ${String(uid)})`,
  );
  socket.destroy();
  return false;
}
