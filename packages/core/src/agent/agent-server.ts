/**
 * The agent's HTTP server on its unix socket: the `/v1` JSON API, the event stream, and the web
 * proxy for `/sessions/{id}/`, nothing else. Owns the listening socket, the event stream and the
 * proxy, and tracks activity so the agent can stop itself when nobody uses it.
 */
import { chmod } from 'node:fs/promises';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import path from 'node:path';
import { HpcError, InvalidInputError, NotFoundError } from '../errors.js';
import { type AgentLog, silentLog } from './agent-log.js';
import { EventStream } from './event-stream.js';
import { sendError, writeSocketError } from './http-json.js';
import { Router } from './router.js';
import { apiRoutes, type RouteDeps } from './routes.js';
import { SessionLeases } from './session-leases.js';
import { proxiedSessionId, SessionProxy } from './session-proxy.js';
import { clearStaleSocket, ensurePrivateDir } from './socket-path.js';

export interface AgentServerOptions extends Omit<RouteDeps, 'events' | 'startedAt' | 'leases'> {
  readonly socketPath: string;
  readonly startedAt?: number;
  readonly heartbeatMs?: number;
  readonly log?: AgentLog;
}

export class AgentServer {
  readonly router: Router;
  readonly events: EventStream;
  readonly leases: SessionLeases;
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
    this.leases = new SessionLeases({
      stop: (id) => options.sessions.stop(id),
      log: this.log,
    });
    this.router = new Router(
      apiRoutes({
        ...options,
        events: this.events,
        leases: this.leases,
        startedAt: options.startedAt ?? Date.now(),
      }),
    );
    this.proxy = new SessionProxy(options.sessions);
    this.server = http.createServer((req, res) => {
      this.onRequest(req, res);
    });
    this.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.touch();
      if (proxiedSessionId(req.url) === undefined) {
        writeSocketError(socket, new NotFoundError(`Nothing to upgrade at ${req.url ?? '/'}.`));
        return;
      }
      this.proxy.handleUpgrade(req, socket, head);
    });
    this.server.on('clientError', (_err, socket: Socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
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
    // Only origin-form targets: an absolute URL ("http://host/...") is a proxy request, refused.
    if (!raw.startsWith('/')) {
      sendError(
        res,
        new InvalidInputError(`Not served: ${raw}`, { hint: 'Use an origin-form path.' }),
      );
      return;
    }
    if (proxiedSessionId(raw) !== undefined) {
      this.proxy.handleRequest(req, res);
      return;
    }
    const url = new URL(raw, 'http://agent');
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
    // no session is stopped for it (the next agent has no leases and stops nothing).
    this.leases.dispose();
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
