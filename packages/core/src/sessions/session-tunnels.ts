/**
 * Tunnels to session endpoints: at most one port forward per (session, endpoint), opened on first
 * use, shared by every later caller, and closed when the session ends, is removed, or the
 * manager closes. This class is the only owner of those forwards. It only ever forwards to an
 * endpoint the session's own connection file named: callers pass a name, never a host or port.
 * An endpoint behind the job's TLS relay gets a forward that speaks mutual TLS to it, with the
 * session's certificate read once from the session directory and held here, in memory only,
 * until the session's tunnels close.
 */
import { AbortedError, NotFoundError, NotReadyError, throwIfAborted } from '../errors.js';
import type { ForwardTls, PortForward, Transport } from '../transport/types.js';
import { readRelayTls } from './remote-files.js';
import type { SessionAccess, SessionEndpoint, SessionRecord } from './types.js';

interface Tunnel {
  readonly endpoint: SessionEndpoint;
  readonly forward: Promise<PortForward>;
}

export class SessionTunnels {
  /** By session id, then endpoint name. */
  private readonly tunnels = new Map<string, Map<string, Tunnel>>();
  /** By session id, then the relay's files and name: the TLS material, read once. */
  private readonly tlsMaterial = new Map<string, Map<string, Promise<ForwardTls>>>();
  private closed = false;

  /** A loopback URL for one of the session's endpoints (default: its first). */
  async access(
    record: SessionRecord,
    transport: Transport,
    endpointName: string | undefined,
    signal?: AbortSignal,
  ): Promise<SessionAccess> {
    throwIfAborted(signal);
    if (this.closed) throw new AbortedError('The session manager is closed.');
    const endpoints = record.connection?.endpoints ?? [];
    if (record.state !== 'ready' || endpoints.length === 0) {
      throw new NotReadyError(
        `Session ${record.id} is ${record.state}, not ready: it has nothing to connect to yet.`,
        { hint: 'Wait until it is ready (its job has started its service).' },
      );
    }
    const endpoint =
      endpointName === undefined ? endpoints[0] : endpoints.find((e) => e.name === endpointName);
    if (endpoint === undefined) {
      throw new NotFoundError(`Session ${record.id} has no endpoint "${endpointName ?? ''}".`, {
        hint: `Its endpoints: ${endpoints.map((e) => e.name).join(', ')}.`,
      });
    }
    let byName = this.tunnels.get(record.id);
    if (byName === undefined) {
      byName = new Map();
      this.tunnels.set(record.id, byName);
    }
    let tunnel = byName.get(endpoint.name);
    if (tunnel !== undefined && !sameTarget(tunnel.endpoint, endpoint)) {
      // The job moved the service (a restart inside the allocation): the old forward is stale.
      byName.delete(endpoint.name);
      void closeQuietly(tunnel.forward);
      tunnel = undefined;
    }
    if (tunnel === undefined) {
      const forward = this.tlsFor(record, transport, endpoint, signal).then((tls) =>
        transport.forward(endpoint.host, endpoint.port, {
          ...(signal ? { signal } : {}),
          ...(tls === undefined ? {} : { tls }),
        }),
      );
      tunnel = { endpoint, forward };
      byName.set(endpoint.name, tunnel);
      const opened = tunnel;
      forward.catch(() => {
        if (byName.get(endpoint.name) === opened) byName.delete(endpoint.name);
      });
    }
    const forward = await tunnel.forward;
    return {
      url: urlOf(endpoint, forward),
      localHost: forward.localHost,
      localPort: forward.localPort,
      endpoint,
    };
  }

  /** The endpoint's TLS material, read from the session directory on first use. */
  private tlsFor(
    record: SessionRecord,
    transport: Transport,
    endpoint: SessionEndpoint,
    signal?: AbortSignal,
  ): Promise<ForwardTls | undefined> {
    const { tls } = endpoint;
    if (tls === undefined) return Promise.resolve(undefined);
    const dir = record.sessionDir;
    if (dir === undefined) {
      return Promise.reject(
        new NotReadyError(
          `Session ${record.id} has no session directory to read its TLS files from.`,
        ),
      );
    }
    let byFiles = this.tlsMaterial.get(record.id);
    if (byFiles === undefined) {
      byFiles = new Map();
      this.tlsMaterial.set(record.id, byFiles);
    }
    const key = JSON.stringify([dir, tls.caFile, tls.certFile, tls.keyFile, tls.serverName]);
    let material = byFiles.get(key);
    if (material === undefined) {
      material = readRelayTls(transport, dir, tls, signal);
      byFiles.set(key, material);
      const cache = byFiles;
      // A failed read (cancelled, the file not there yet) is tried again next time.
      material.catch(() => {
        if (cache.get(key) === material) cache.delete(key);
      });
    }
    return material;
  }

  /** Open tunnels of a session, by endpoint name (for tests and status pages). */
  openFor(id: string): string[] {
    return [...(this.tunnels.get(id)?.keys() ?? [])];
  }

  /** Closes every tunnel of the session. */
  async closeSession(id: string): Promise<void> {
    this.tlsMaterial.delete(id);
    const byName = this.tunnels.get(id);
    if (byName === undefined) return;
    this.tunnels.delete(id);
    await Promise.all([...byName.values()].map((t) => closeQuietly(t.forward)));
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.tunnels.keys()].map((id) => this.closeSession(id)));
  }
}

function sameTarget(a: SessionEndpoint, b: SessionEndpoint): boolean {
  return a.host === b.host && a.port === b.port && JSON.stringify(a.tls) === JSON.stringify(b.tls);
}

/** HTTP endpoints (those with a base path, and Jupyter's) get an http URL; others tcp. */
function urlOf(endpoint: SessionEndpoint, forward: PortForward): string {
  const host = forward.localHost.includes(':') ? `[${forward.localHost}]` : forward.localHost;
  if (endpoint.basePath !== undefined || endpoint.name === 'jupyter') {
    const path = endpoint.basePath ?? '/';
    return `http://${host}:${forward.localPort}${path.endsWith('/') ? path : `${path}/`}`;
  }
  return `tcp://${host}:${forward.localPort}`;
}

async function closeQuietly(forward: Promise<PortForward>): Promise<void> {
  try {
    await (await forward).close();
  } catch {
    // A forward that never opened, or is gone already, has nothing left to close.
  }
}
