/**
 * Who is on the other end of a loopback TCP connection. A port on 127.0.0.1 is open to every user
 * of the machine, so a listener that serves only its owner (the agent's forwards, the kernel
 * launcher's five ports) asks the kernel which user owns the peer socket before it reads a byte.
 *
 * Linux lists every TCP socket of the network namespace in /proc/net/tcp{,6} with its owner's
 * uid; the peer of a loopback connection is the socket whose local end is our remote end and
 * whose remote end is our local end. The peer is alive while we look (it has not been accepted
 * and closed yet), so a missing entry means it is gone, and the connection is refused.
 */
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';

/** The uid owning the peer socket of a loopback connection, or undefined when none is found. */
export async function loopbackPeerUid(socket: Socket): Promise<number | undefined> {
  const { localAddress, localPort, remoteAddress, remotePort } = socket;
  if (
    localAddress === undefined ||
    localPort === undefined ||
    remoteAddress === undefined ||
    remotePort === undefined
  ) {
    return undefined;
  }
  if (ipv4Of(remoteAddress) === undefined) {
    return uidIn('/proc/net/tcp6', remoteAddress, remotePort, localAddress, localPort);
  }
  // An IPv4 connection: the peer's socket is in tcp, or, when the client opened an IPv6 socket
  // (gRPC does) and connected to ::ffff:127.0.0.1, in tcp6 with both ends v4-mapped.
  return (
    (await uidIn('/proc/net/tcp', remoteAddress, remotePort, localAddress, localPort)) ??
    (await uidIn(
      '/proc/net/tcp6',
      `::ffff:${remoteAddress.replace(/^::ffff:/i, '')}`,
      remotePort,
      `::ffff:${localAddress.replace(/^::ffff:/i, '')}`,
      localPort,
    ))
  );
}

async function uidIn(
  table: string,
  peerAddress: string,
  peerPort: number,
  selfAddress: string,
  selfPort: number,
): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(table, 'latin1');
  } catch {
    return undefined;
  }
  return findPeerUid(text, {
    peer: hexEndpoint(peerAddress, peerPort),
    self: hexEndpoint(selfAddress, selfPort),
  });
}

/** True when the peer of this loopback connection runs as `uid` (default: this process's). */
export async function isOwnLoopbackPeer(
  socket: Socket,
  uid: number = process.getuid?.() ?? -1,
): Promise<boolean> {
  return (await loopbackPeerUid(socket)) === uid;
}

/**
 * The uid column of the /proc/net/tcp line whose local end is `peer` and remote end is `self`
 * (both as /proc writes them: hex address, colon, hex port). Pure, for tests.
 */
export function findPeerUid(
  table: string,
  ends: { readonly peer: string; readonly self: string },
): number | undefined {
  for (const line of table.split('\n')) {
    // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid ..."
    const fields = line.trim().split(/\s+/);
    if (fields.length < 8) continue;
    if (fields[1]?.toUpperCase() !== ends.peer || fields[2]?.toUpperCase() !== ends.self) continue;
    const uid = Number(fields[7]);
    return Number.isInteger(uid) ? uid : undefined;
  }
  return undefined;
}

/** "127.0.0.1" (or "::ffff:127.0.0.1") as four numbers; undefined for a real IPv6 address. */
function ipv4Of(address: string): number[] | undefined {
  const m = /^(?:::ffff:)?(\d+)\.(\d+)\.(\d+)\.(\d+)$/i.exec(address);
  if (m === null) return undefined;
  return m.slice(1, 5).map(Number);
}

/**
 * An address and port the way /proc/net/tcp{,6} prints them: each 32-bit word of the address in
 * host byte order (little-endian on every machine the agent runs on), the port in big-endian hex.
 */
export function hexEndpoint(address: string, port: number): string {
  const portHex = port.toString(16).toUpperCase().padStart(4, '0');
  const v4 = ipv4Of(address);
  if (v4 !== undefined && !address.includes(':')) return `${wordHex(v4)}:${portHex}`;
  const bytes = ipv6Bytes(address);
  let hex = '';
  for (let i = 0; i < 16; i += 4) hex += wordHex(bytes.slice(i, i + 4));
  return `${hex}:${portHex}`;
}

function wordHex(bytes: readonly number[]): string {
  return [...bytes]
    .reverse()
    .map((b) => b.toString(16).toUpperCase().padStart(2, '0'))
    .join('');
}

function ipv6Bytes(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4?.[1] !== undefined) {
    tail = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length).replace(/:$/, '');
  }
  const [head = '', rest] = text.split('::');
  const words = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => parseInt(w, 16)));
  const left = words(head);
  const right = words(rest ?? '');
  const missing = 8 - tail.length / 2 - left.length - right.length;
  const all = [
    ...left,
    ...(rest === undefined ? [] : new Array<number>(missing).fill(0)),
    ...right,
  ];
  const bytes: number[] = [];
  for (const w of all) bytes.push((w >> 8) & 0xff, w & 0xff);
  return [...bytes, ...tail];
}
