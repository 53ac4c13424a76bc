import { spawn } from 'node:child_process';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';

import { findPeerUid, hexEndpoint, isOwnLoopbackPeer, loopbackPeerUid } from './loopback-peer.js';

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A listener on `host` whose first accepted socket is handed to the test. */
async function listen(host: string): Promise<{ port: number; accepted: Promise<Socket> }> {
  let resolveAccepted: (s: Socket) => void = () => undefined;
  const accepted = new Promise<Socket>((r) => (resolveAccepted = r));
  const server = createServer((s) => {
    resolveAccepted(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { port: address.port, accepted };
}

describe('hexEndpoint', () => {
  it('writes addresses as /proc/net/tcp does', () => {
    expect(hexEndpoint('127.0.0.1', 8080)).toBe('0100007F:1F90');
    expect(hexEndpoint('10.77.0.11', 22)).toBe('0B004D0A:0016');
    expect(hexEndpoint('::1', 443)).toBe('00000000000000000000000001000000:01BB');
    expect(hexEndpoint('::ffff:127.0.0.1', 1)).toBe('0000000000000000FFFF00000100007F:0001');
  });
});

describe('findPeerUid', () => {
  const table = [
    '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
    '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1',
    '   1: 0100007F:A000 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1001        0 2 1',
    '   2: 0100007F:1F90 0100007F:A000 01 00000000:00000000 00:00000000 00000000     0        0 3 1',
  ].join('\n');

  it('finds the socket whose ends are ours swapped', () => {
    expect(findPeerUid(table, { peer: '0100007F:A000', self: '0100007F:1F90' })).toBe(1001);
    expect(findPeerUid(table, { peer: '0100007F:1F90', self: '0100007F:A000' })).toBe(0);
  });

  it('answers undefined for a peer that is gone', () => {
    expect(findPeerUid(table, { peer: '0100007F:A001', self: '0100007F:1F90' })).toBeUndefined();
  });
});

describe.runIf(process.platform === 'linux')('loopbackPeerUid', () => {
  it.each(['127.0.0.1', '::1'])(
    'names this process as the peer of its own connection (%s)',
    async (host) => {
      const { port, accepted } = await listen(host);
      const { connect } = await import('node:net');
      const client = connect(port, host);
      const socket = await accepted;
      expect(await loopbackPeerUid(socket)).toBe(process.getuid?.());
      expect(await isOwnLoopbackPeer(socket)).toBe(true);
      client.destroy();
      socket.destroy();
    },
  );

  it('finds a peer that connected from an IPv6 socket to a v4-mapped 127.0.0.1 (as gRPC does)', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    const { connect } = await import('node:net');
    const client = connect({ host: '::ffff:127.0.0.1', port });
    const socket = await accepted;
    expect(await loopbackPeerUid(socket)).toBe(process.getuid?.());
    client.destroy();
    socket.destroy();
  });

  // Only root can start a process as another user; the e2e tier attacks as a real second user.
  it.runIf(process.getuid?.() === 0)('names another user as the peer of theirs', async () => {
    const { port, accepted } = await listen('127.0.0.1');
    const child = spawn(
      process.execPath,
      ['-e', `require('net').connect(${port}, '127.0.0.1'); setTimeout(() => {}, 5000)`],
      { uid: 65534, gid: 65534, stdio: 'ignore' },
    );
    try {
      const socket = await accepted;
      expect(await loopbackPeerUid(socket)).toBe(65534);
      expect(await isOwnLoopbackPeer(socket)).toBe(false);
      socket.destroy();
    } finally {
      child.kill();
    }
  });
});
