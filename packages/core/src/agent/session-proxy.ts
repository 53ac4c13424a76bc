/**
 * The agent's web proxy: `/sessions/{id}/...` (HTTP and WebSocket upgrades) goes to that
 * session's own `jupyter` endpoint through the session service's loopback tunnel, with the path
 * unchanged (the server in the job runs with base_url `/sessions/{id}/`). The target comes only
 * from the session record: no request can name a host or port, so the proxy cannot be turned
 * into a way into anything else. Owns its upstream connections and closes them on `close()`.
 */
import http, {
  type IncomingHttpHeaders,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import net, { type Socket } from 'node:net';
import { HpcError, NotFoundError, NotReadyError } from '../errors.js';
import { isFinal } from '../schedulers/types.js';
import type { SessionAccess, SessionService } from '../sessions/types.js';
import { sendError, statusFor, writeSocketError } from './http-json.js';

export const PROXY_PREFIX = '/sessions/';

const HALF_CLOSE_GRACE_MS = 1000;

/** The session id a proxied path names, or undefined when the path is not ours to proxy. */
export function proxiedSessionId(url: string | undefined): string | undefined {
  if (url?.startsWith(PROXY_PREFIX) !== true) return undefined;
  const id = url.slice(PROXY_PREFIX.length).split(/[/?#]/, 1)[0] ?? '';
  return /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : undefined;
}

/** Headers that describe one connection, not the message (RFC 9110 section 7.6.1). */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function connectionTokens(value: string | string[] | undefined): Set<string> {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    joined
      .split(',')
      .map((t) => t.trim().toLowerCase())
      .filter((t) => t !== ''),
  );
}

export function endToEndHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = connectionTokens(headers.connection);
  const out: IncomingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (HOP_BY_HOP.has(name) || named.has(name) || value === undefined) continue;
    out[name] = value;
  }
  return out;
}

export interface SessionProxyOptions {
  /** The endpoint proxied; the Jupyter server unless a test says otherwise. */
  readonly endpoint?: string;
}

export class SessionProxy {
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly upgraded = new Set<Socket>();
  private readonly endpoint: string;

  constructor(
    private readonly sessions: SessionService,
    options: SessionProxyOptions = {},
  ) {
    this.endpoint = options.endpoint ?? 'jupyter';
  }

  /** Open WebSocket (upgraded) connections: activity the agent counts against idling. */
  get openUpgrades(): number {
    return this.upgraded.size;
  }

  handleRequest(req: IncomingMessage, res: ServerResponse): void {
    const aborted = new AbortController();
    res.once('close', () => {
      aborted.abort();
    });
    this.target(req.url, aborted.signal).then(
      (access) => {
        this.forward(req, res, access);
      },
      (err: unknown) => {
        if (statusFor(err) === 503) res.setHeader('retry-after', '5');
        sendError(res, err);
      },
    );
  }

  handleUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // Nothing may be read (and lost) before the upstream connection exists to take it.
    socket.pause();
    socket.on('error', () => socket.destroy());
    this.target(req.url).then(
      (access) => {
        this.pipeUpgrade(req, socket, head, access);
      },
      (err: unknown) => {
        writeSocketError(socket, err);
      },
    );
  }

  close(): void {
    for (const socket of this.upgraded) socket.destroy();
    this.upgraded.clear();
    this.agent.destroy();
  }

  /** Resolves the session named by the path to its tunnel, or throws what the client should see. */
  private async target(url: string | undefined, signal?: AbortSignal): Promise<SessionAccess> {
    const id = proxiedSessionId(url);
    const session = id === undefined ? undefined : this.sessions.get(id);
    if (id === undefined || session === undefined) {
      throw new NotFoundError(`No session at ${url ?? '/'}.`, {
        hint: 'Only /sessions/{id}/ of a known session is proxied.',
      });
    }
    if (isFinal(session.state)) {
      throw new NotFoundError(`Session ${id} has ended (${session.state}).`);
    }
    if (session.state !== 'ready') {
      throw new NotReadyError(`Session ${id} is not ready yet (${session.state}).`, {
        hint: 'Wait for the session to become ready; the agent sends an event when it is.',
      });
    }
    return this.sessions.access(id, this.endpoint, signal === undefined ? {} : { signal });
  }

  private forward(req: IncomingMessage, res: ServerResponse, access: SessionAccess): void {
    const upstream = http.request({
      agent: this.agent,
      host: access.localHost,
      port: access.localPort,
      method: req.method,
      path: req.url,
      headers: endToEndHeaders(req.headers),
    });
    upstream.on('response', (answer) => {
      res.writeHead(
        answer.statusCode ?? 502,
        answer.statusMessage,
        endToEndHeaders(answer.headers),
      );
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (err) => {
      sendError(
        res,
        new HpcError(`The session's server did not answer: ${err.message}`, { cause: err }),
        502,
      );
    });
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  private pipeUpgrade(
    req: IncomingMessage,
    socket: Socket,
    head: Buffer,
    access: SessionAccess,
  ): void {
    if (socket.destroyed) return;
    const upstream = net.connect({ host: access.localHost, port: access.localPort });
    this.upgraded.add(socket);
    let piped = false;
    const cleanup = (): void => {
      this.upgraded.delete(socket);
      socket.destroy();
      upstream.destroy();
    };
    upstream.once('connect', () => {
      piped = true;
      upstream.write(upgradeRequestHead(req));
      if (head.length > 0) upstream.write(head);
      // The upstream's answer (101 Switching Protocols, or a refusal) goes back unchanged.
      upstream.pipe(socket);
      socket.pipe(upstream);
      socket.resume();
    });
    upstream.once('error', (err) => {
      if (piped) return;
      this.upgraded.delete(socket);
      writeSocketError(
        socket,
        new HpcError(`The session's server did not answer: ${err.message}`, { cause: err }),
        502,
      );
    });
    upstream.once('close', () => {
      if (piped) cleanup();
    });
    socket.once('close', cleanup);
    // WebSockets never half-close on purpose: once one side has sent its FIN, give the other a
    // moment to finish its close handshake, then release both (else a peer that keeps its half
    // open would hold the connection, and the agent's idle timer, forever).
    const afterEnd = (): void => {
      setTimeout(cleanup, HALF_CLOSE_GRACE_MS).unref();
    };
    socket.once('end', afterEnd);
    upstream.once('end', afterEnd);
  }
}

/** The request line and headers of an upgrade, re-serialized for the upstream connection. */
function upgradeRequestHead(req: IncomingMessage): string {
  const named = connectionTokens(req.headers.connection);
  const lines = [`${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/1.1`];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    // Connection and Upgrade stay: they are what asks the upstream to switch protocols.
    if (
      lower !== 'connection' &&
      lower !== 'upgrade' &&
      (HOP_BY_HOP.has(lower) || named.has(lower))
    )
      continue;
    // Node's parser has already rejected CR and LF in header values, so this cannot inject.
    lines.push(`${name}: ${raw[i + 1] ?? ''}`);
  }
  return `${lines.join('\r\n')}\r\n\r\n`;
}
