/**
 * The agent's HTTP server on its unix socket: the `/v1` JSON API, the event stream, and the web
 * proxy for `/sessions/{id}/`, nothing else. Owns the listening socket, the event stream and the
 * proxy, and tracks activity so the agent can stop itself when nobody uses it. Every request
 * passes request-guard.ts first (no other web page gets in), and the server's timeouts end
 * requests that trickle in (slowloris) within seconds.
 */
import { chmod } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { HpcError, InvalidInputError, NotFoundError } from '../errors.js';
import { type AgentLog, silentLog } from './agent-log.js';
import { EventStream } from './event-stream.js';
import { sendError, writeSocketError } from './http-json.js';
import { refusal, RequestRefusedError, type RefusalStatus } from './request-guard.js';
import { Router } from './router.js';
import { apiRoutes, type RouteDeps } from './routes.js';
import { isFinal } from '../schedulers/types.js';
import { SessionStore } from '../sessions/session-store.js';
import { type LeaseStore, SessionLeases } from './session-leases.js';
import { proxiedSessionId, SessionProxy } from './session-proxy.js';
import { clearStaleSocket, ensurePrivateDir } from './socket-path.js';
import { isUiLinkUrl, redactUiLink, UiLinks } from './ui-links.js';

/**
 * How long a client may take to send a request's headers, and the whole request. Clients are on
 * this machine (or jupyter-server-proxy, which has the whole body before it forwards it): a
 * request that takes longer is stuck or an attack. Answers (event streams, leases) are not timed.
 */
export const HEADERS_TIMEOUT_MS = 10_000;
export const REQUEST_TIMEOUT_MS = 30_000;
/** How often those timeouts are checked. */
const TIMEOUT_CHECK_MS = 1000;

const CLIENT_ERRORS: Readonly<Record<string, readonly [RefusalStatus, string]>> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'The request was not received in time.'],
  HPE_HEADER_OVERFLOW: [431, 'The request headers are too large.'],
};
const CLIENT_ERROR_HINT = 'The agent takes small, complete HTTP/1.1 requests sent at once.';

export interface AgentServerOptions extends Omit<
  RouteDeps,
  'events' | 'startedAt' | 'leases' | 'uiLinks'
> {
  readonly socketPath: string;
  readonly startedAt?: number;
  readonly heartbeatMs?: number;
  readonly log?: AgentLog;
  /** Where leases outlive this agent; default: the sessions' store, when they have one. */
  readonly leaseStore?: LeaseStore;
  /** Overrides HEADERS_TIMEOUT_MS and REQUEST_TIMEOUT_MS (tests). */
  readonly timeouts?: { readonly headersMs: number; readonly requestMs: number };
}

export class AgentServer {
  readonly router: Router;
  readonly events: EventStream;
  readonly leases: SessionLeases;
  readonly uiLinks = new UiLinks();
  private readonly proxy: SessionProxy;
  private readonly server: http.Server;
  private readonly unsubscribe: (() => void)[] = [];
  private readonly log: AgentLog;
  private activeRequests = 0;
  private lastActive = Date.now();
  private closing: Promise<void> | undefined;

  /** Checks the socket's directory, clears a stale socket, and listens. */
  static async listen(options: AgentServerOptions): Promise<AgentServer> {
    await ensurePrivateDir(path.dirname(options.socketPath));
    await clearStaleSocket(options.socketPath);
    const agent = new AgentServer(options);
    await agent.start();
    return agent;
  }

  private constructor(private readonly options: AgentServerOptions) {
    this.log = options.log ?? silentLog;
    this.events = new EventStream({
      snapshot: () => ({
        type: 'snapshot',
        sessions: options.sessions.list(),
        prompts: options.prompter.list(),
      }),
      ...(options.heartbeatMs === undefined ? {} : { heartbeatMs: options.heartbeatMs }),
    });
    const leaseStore = options.leaseStore ?? leaseStoreOf(options.sessions);
    this.leases = new SessionLeases({
      stop: (id) => options.sessions.stop(id),
      log: this.log,
      ...(leaseStore === undefined ? {} : { store: leaseStore }),
    });
    this.router = new Router(
      apiRoutes({
        ...options,
        events: this.events,
        leases: this.leases,
        uiLinks: this.uiLinks,
        startedAt: options.startedAt ?? Date.now(),
      }),
    );
    this.proxy = new SessionProxy(options.sessions, { links: this.uiLinks });
    this.server = http.createServer(
      {
        headersTimeout: options.timeouts?.headersMs ?? HEADERS_TIMEOUT_MS,
        requestTimeout: options.timeouts?.requestMs ?? REQUEST_TIMEOUT_MS,
        connectionsCheckingInterval: TIMEOUT_CHECK_MS,
      },
      (req, res) => {
        this.onRequest(req, res);
      },
    );
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.touch();
      const refused = refusal(req.method ?? 'GET', req.headers, 'proxy');
      if (refused !== undefined) {
        this.log.warn(
          `refused upgrade ${req.method ?? '?'} ${redactUiLink(pathOnly(req.url))}: ${refused.message}`,
        );
        writeSocketError(socket, refused);
        return;
      }
      if (proxiedSessionId(req.url) === undefined && !isUiLinkUrl(req.url)) {
        writeSocketError(socket, new NotFoundError(`Nothing to upgrade at ${req.url ?? '/'}.`));
        return;
      }
      this.proxy.handleUpgrade(req, socket, head);
    });
    // Requests Node itself refuses: too slow (the timeouts above), headers too large, not HTTP.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (!socket.writable) return;
      const [status, message] = CLIENT_ERRORS[err.code ?? ''] ?? [400, 'Not an HTTP request.'];
      writeSocketError(socket, new RequestRefusedError(status, message, CLIENT_ERROR_HINT), status);
    });
  }

  get socketPath(): string {
    return this.options.socketPath;
  }

  /** True while a request, an event stream or a proxied WebSocket is open. */
  get busy(): boolean {
    return this.activeRequests > 0 || this.proxy.openUpgrades > 0;
  }

  /** Date.now() of the last request start or end. */
  get lastActivity(): number {
    return this.lastActive;
  }

  /** Stops listening, ends event streams and proxied connections, removes the socket. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async start(): Promise<void> {
    const publish = this.events.publish.bind(this.events);
    this.unsubscribe.push(this.options.sessions.onEvent(publish));
    this.unsubscribe.push(this.options.prompter.onEvent(publish));
    // Leases of ended sessions are dropped; those a previous agent left are waited for.
    this.unsubscribe.push(
      this.options.sessions.onEvent((e) => {
        if (e.type === 'session-removed') this.leases.forget(e.id);
        if (e.type === 'session' && isFinal(e.session.state)) this.leases.forget(e.session.id);
      }),
    );
    void this.leases.restore((id) => {
      const record = this.options.sessions.get(id);
      return record !== undefined && !isFinal(record.state);
    });
    this.unsubscribe.push(
      this.options.sessions.onEvent((e) => {
        this.uiLinks.onEvent(e);
      }),
    );
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          err.code === 'EADDRINUSE'
            ? new HpcError(`Another hpc-jupyter agent took ${this.socketPath} first.`, {
                cause: err,
              })
            : err,
        );
      };
      this.server.once('error', onError);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
    // The directory is already private; this keeps the socket so if it is ever moved.
    await chmod(this.socketPath, 0o600);
    this.log.info(`listening on ${this.socketPath}`);
  }

  private touch(): void {
    this.lastActive = Date.now();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.activeRequests++;
    this.touch();
    const started = Date.now();
    res.once('close', () => {
      this.activeRequests--;
      this.touch();
    });
    const raw = req.url ?? '/';
    const url = originForm(raw);
    // Only origin-form targets: an absolute URL ("http://host/...") is a proxy request, refused.
    if (url === undefined) {
      sendError(
        res,
        new InvalidInputError(`Not served: ${pathOnly(raw).slice(0, 200)}`, {
          hint: 'Use an origin-form path.',
        }),
      );
      return;
    }
    const method = req.method ?? 'GET';
    const proxied = proxiedSessionId(raw) !== undefined || isUiLinkUrl(raw);
    const refused = refusal(method, req.headers, url.pathname.startsWith('/v1/') ? 'api' : 'proxy');
    if (refused !== undefined) {
      // Logged so that the user can see a page trying (the path: ids, never the query).
      this.log.warn(
        `refused ${method} ${redactUiLink(url.pathname)} ${refused.status}: ${refused.message}`,
      );
      sendError(res, refused);
      return;
    }
    if (proxied) {
      this.proxy.handleRequest(req, res);
      return;
    }
    if (!url.pathname.startsWith('/v1/')) {
      sendError(
        res,
        new NotFoundError(`Not served: ${url.pathname}`, {
          hint: 'The agent serves its API under /v1/ and sessions under /sessions/{id}/.',
        }),
      );
      return;
    }
    res.once('finish', () => {
      // Paths hold ids, never secrets; the query string (which might) is left out.
      this.log.info(
        `${req.method ?? '?'} ${url.pathname} ${res.statusCode} ${Date.now() - started}ms`,
      );
    });
    this.router.dispatch(req, res, url).catch((err: unknown) => {
      this.log.error(`${req.method ?? '?'} ${url.pathname} failed`, err);
      sendError(res, err);
    });
  }

  private async shutdown(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) off();
    // Leases end with the connections below; that is the agent going away, not their clients:
    // no session is stopped for it. The store keeps them: the next agent waits for their
    // launchers to lease them again, and stops those whose launchers are gone.
    this.leases.dispose();
    this.uiLinks.clear();
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    this.events.close();
    this.proxy.close();
    this.server.closeAllConnections();
    await closed;
    this.log.info('stopped listening');
  }
}

/** The sessions' own store, when they keep one (the real service does; test fakes do not). */
function leaseStoreOf(sessions: object): LeaseStore | undefined {
  const store = (sessions as { store?: unknown }).store;
  return store instanceof SessionStore ? store : undefined;
}

/**
 * The target as a URL when it is a plain path. "//host/..." would parse as another host, and
 * some such targets ("//[") do not parse at all: neither is served.
 */
function originForm(raw: string): URL | undefined {
  if (!raw.startsWith('/') || raw.startsWith('//')) return undefined;
  try {
    return new URL(raw, 'http://agent');
  } catch {
    return undefined;
  }
}

/** The path of a request target, without its query (which may hold a token). */
function pathOnly(raw: string | undefined): string {
  return (raw ?? '/').split('?', 1)[0] ?? '/';
}
