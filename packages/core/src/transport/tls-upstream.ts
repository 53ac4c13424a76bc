/**
 * The TLS leg of a forward to a job's relay: a forwarded connection's upstream (an SSH channel,
 * or a socket for the local transport) wrapped in TLS 1.3 with the session's client certificate,
 * and the relay's certificate checked against the session's CA and its node's name (the
 * channel goes to the node's address, or to 127.0.0.1 for the local cluster, so the name is
 * given, not taken from the address). The local side of the forward stays plain, so clients
 * (the kernel launcher, jupyter_client) connect as before.
 */
import { isIP } from 'node:net';
import type { Duplex } from 'node:stream';
import { checkServerIdentity, connect, type TLSSocket } from 'node:tls';
import type { ForwardTls } from './types.js';

export function tlsUpstream(raw: Duplex, tls: ForwardTls): TLSSocket {
  return connect({
    socket: raw,
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    minVersion: 'TLSv1.3',
    // SNI carries no IP address; the relay serves one certificate whatever the name.
    ...(isIP(tls.serverName) === 0 ? { servername: tls.serverName } : {}),
    checkServerIdentity: (_host, cert) => checkServerIdentity(tls.serverName, cert),
  });
}
