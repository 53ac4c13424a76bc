/**
 * The agent's web proxy: `/sessions/{id}/...` (HTTP and WebSocket upgrades) goes to that
 * session's own `jupyter` endpoint through the session service's loopback tunnel, with the path
 * unchanged (the server in the job runs with base_url `/sessions/{id}/`). Web UIs that serve at
 * their root (the Dask dashboard, the Spark UIs) are reached at `/endpoints/{id}/{name}/...`:
 * that endpoint of the session, with `/endpoints/{id}/{name}` taken off the path (and named in
 * X-Forwarded-Context, after any context the proxy in front of the agent gave, so that UIs that
 * honour it, like Spark's, write links that come back here). The target comes only from the
 * session record: no request can name a host or port, so the proxy cannot be turned into a way
 * into anything else. A UI that asks for the session's web UI token (connection.json's
 * `ui_auth`: the Dask dashboard, the Spark UIs, which refuse everyone else) gets it here, as the
 * Authorization header the session service signs, in place of any the client sent: the browser
 * never holds it. Owns its upstream connections and closes them on `close()`.
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
import { isUiLinkUrl, uiLinkTarget, type UiLinks } from './ui-links.js';

export const PROXY_PREFIX = '/sessions/';
/** `/endpoints/{id}/{name}/...`: one named endpoint of a session, served at its root. */
export const ENDPOINT_PROXY_PREFIX = '/endpoints/';

const HALF_CLOSE_GRACE_MS = 1000;

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** The session id a proxied path names, or undefined when the path is not ours to proxy. */
export function proxiedSessionId(url: string | undefined): string | undefined {
  return proxiedTarget(url)?.id;
}

/** Where a proxied request goes: a session, one of its endpoints (default: jupyter), a path. */
export interface ProxiedTarget {
  readonly id: string;
  /** Set for `/endpoints/{id}/{name}/...`; the Jupyter server otherwise. */
  readonly endpoint?: string;
  /** The path (and query) the upstream sees. */
  readonly path: string;
  /** The path prefix the agent took off (for X-Forwarded-Context), for endpoint targets. */
  readonly context?: string;
}

/** Parses a proxied URL, or undefined when it is not one. Pure. */
export function proxiedTarget(url: string | undefined): ProxiedTarget | undefined {
  if (url === undefined) return undefined;
  if (url.startsWith(PROXY_PREFIX)) {
    const id = url.slice(PROXY_PREFIX.length).split(/[/?#]/, 1)[0] ?? '';
    return NAME.test(id) ? { id, path: url } : undefined;
  }
  if (url.startsWith(ENDPOINT_PROXY_PREFIX)) {
    const match = /^([^/?#]+)\/([^/?#]+)(.*)$/s.exec(url.slice(ENDPOINT_PROXY_PREFIX.length));
    const [, id = '', endpoint = '', rest = ''] = match ?? [];
    if (!NAME.test(id) || !NAME.test(endpoint)) return undefined;
    const path = rest === '' ? '/' : rest.startsWith('/') ? rest : `/${rest}`;
    return { id, endpoint, path, context: `${ENDPOINT_PROXY_PREFIX}${id}/${endpoint}` };
  }
  return undefined;
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
  /** Capability links to web UIs (`/ui/<link>/...`, see ui-links.ts); none served without. */
  readonly links?: UiLinks;
}

export class SessionProxy {
  private readonly agent = new http.Agent({ keepAlive: true });
  private readonly upgraded = new Set<Socket>();
  private readonly endpoint: string;
  private readonly links: UiLinks | undefined;

  constructor(
    private readonly sessions: SessionService,
    options: SessionProxyOptions = {},
  ) {
    this.endpoint = options.endpoint ?? 'jupyter';
    this.links = options.links;
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
      ({ access, target, authorization }) => {
        this.forward(req, res, access, target, authorization);
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
      ({ access, target, authorization }) => {
        this.pipeUpgrade(req, socket, head, access, target, authorization);
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
  private async target(
    url: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ access: SessionAccess; target: ProxiedTarget; authorization?: string }> {
    if (isUiLinkUrl(url)) {
      const linked = this.links === undefined ? undefined : uiLinkTarget(url ?? '', this.links);
      // The link is a secret: no message names it.
      if (linked === undefined) {
        throw new NotFoundError('No web UI at this link: it is unknown, expired or revoked.', {
          hint: 'Open the UI again from the HPC sidebar; its links end with the tab or session.',
        });
      }
      return this.resolve(linked, url, signal);
    }
    const target = proxiedTarget(url);
    if (target === undefined) {
      throw new NotFoundError(`No session at ${url ?? '/'}.`, {
        hint: 'Only /sessions/{id}/ and /endpoints/{id}/{endpoint}/ of a known session are proxied.',
      });
    }
    return this.resolve(target, url, signal);
  }

  private async resolve(
    target: ProxiedTarget,
    url: string | undefined,
    signal?: AbortSignal,
  ): Promise<{ access: SessionAccess; target: ProxiedTarget; authorization?: string }> {
    const id = target.id;
    const session = this.sessions.get(id);
    if (session === undefined) {
      const where = isUiLinkUrl(url) ? `for this link (${id})` : `at ${url ?? '/'}`;
      throw new NotFoundError(`No session ${where}.`, {
        hint: 'Only /sessions/{id}/ and /endpoints/{id}/{endpoint}/ of a known session are proxied.',
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
    const endpoint = target.endpoint ?? this.endpoint;
    if (
      target.endpoint !== undefined &&
      session.connection?.endpoints.some((e) => e.name === endpoint) !== true
    ) {
      throw new NotFoundError(`Session ${id} has no endpoint "${endpoint}".`, {
        hint: `Its endpoints: ${(session.connection?.endpoints ?? []).map((e) => e.name).join(', ')}.`,
      });
    }
    const options = signal === undefined ? {} : { signal };
    const access = await this.sessions.access(id, endpoint, options);
    // Only endpoint targets: the Jupyter server has its own token, which the client sends.
    const authorization =
      target.endpoint === undefined
        ? undefined
        : await this.sessions.webUiAuthorization?.(id, endpoint, options);
    return authorization === undefined ? { access, target } : { access, target, authorization };
  }

  private forward(
    req: IncomingMessage,
    res: ServerResponse,
    access: SessionAccess,
    target: ProxiedTarget,
    authorization: string | undefined,
  ): void {
    const headers = upstreamHeaders(endToEndHeaders(req.headers), target, authorization);
    const context = forwardedContext(headers, target);
    if (context !== undefined) {
      for (const name of CONTEXT_HEADERS) headers[name] = context;
    }
    const upstream = http.request({
      agent: this.agent,
      host: access.localHost,
      port: access.localPort,
      method: req.method,
      path: target.path,
      headers,
    });
    upstream.on('response', (answer) => {
      const answerHeaders = endToEndHeaders(answer.headers);
      // A UI sets no cookie on JupyterLab's origin (nor overwrites Jupyter's own).
      if (target.endpoint !== undefined) delete answerHeaders['set-cookie'];
      const location = answerHeaders.location;
      // A redirect to the UI's own root-relative path ("/status") stays below the prefix.
      if (context !== undefined && typeof location === 'string' && /^\/(?!\/)/.test(location)) {
        answerHeaders.location = `${context}${location}`;
      }
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answerHeaders);
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
    target: ProxiedTarget,
    authorization: string | undefined,
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
      upstream.write(upgradeRequestHead(req, target, authorization));
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

/** The headers by which proxies tell an application the path prefix it is served under. */
const CONTEXT_HEADERS = ['x-forwarded-context', 'x-forwarded-prefix', 'x-proxycontextpath'];

/**
 * The full path prefix an endpoint target is served under, as the browser sees it: the context
 * the proxy in front of the agent named (jupyter-server-proxy's `/hpc-jupyter`), then ours.
 * Undefined for the Jupyter server, which knows its base URL itself.
 */
export function forwardedContext(
  headers: IncomingHttpHeaders,
  target: ProxiedTarget,
): string | undefined {
  if (target.context === undefined) return undefined;
  const before = headers['x-forwarded-context'];
  const outer = typeof before === 'string' && /^\/[^\s?#]*$/.test(before) ? before : '';
  return `${outer.replace(/\/+$/, '')}${target.context}`;
}

/**
 * What a request's headers become upstream. For a web UI (an endpoint target): no Cookie, as
 * the browser's cookies are JupyterLab's (its login among them) and no UI of ours needs them, and
 * the session's web UI token as Authorization in place of whatever the client sent (which is not
 * for the UI, and must not pass for it). The Jupyter server's requests go unchanged. Pure.
 */
export function upstreamHeaders(
  headers: IncomingHttpHeaders,
  target: ProxiedTarget,
  authorization: string | undefined,
): IncomingHttpHeaders {
  if (target.endpoint === undefined) return headers;
  const out: IncomingHttpHeaders = { ...headers };
  delete out.cookie;
  if (authorization === undefined) return out;
  return { ...out, authorization };
}

/**
 * The request line and headers of an upgrade, re-serialized for the upstream connection, with
 * its headers as upstreamHeaders would leave them.
 */
export function upgradeRequestHead(
  req: Pick<IncomingMessage, 'method' | 'headers' | 'rawHeaders'>,
  target: ProxiedTarget,
  authorization?: string,
): string {
  const named = connectionTokens(req.headers.connection);
  const lines = [`${req.method ?? 'GET'} ${target.path} HTTP/1.1`];
  const raw = req.rawHeaders;
  const ui = target.endpoint !== undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (ui && (lower === 'cookie' || (authorization !== undefined && lower === 'authorization')))
      continue;
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
  // Made by the agent (base64url and dots), so it cannot inject either.
  if (ui && authorization !== undefined) lines.push(`Authorization: ${authorization}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
