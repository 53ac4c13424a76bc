/**
 * The client of the per-user agent, for the CLI, the kernel launcher and the extensions' server
 * side: one typed method per API route over the agent's unix socket, and the event stream.
 * Errors the agent answers with come back as AgentError (or InvalidParametersError, so a form can
 * mark every bad field) carrying the agent's message and hint.
 */
import http from 'node:http';
import type { SiteInfo } from '../schedulers/types.js';
import type { PromptEvent, SessionRecord, SessionSpec } from '../sessions/types.js';
import { AbortedError, AgentError, InvalidParametersError, throwIfAborted } from '../errors.js';
import type {
  AccessResponse,
  AgentStreamEvent,
  ApiErrorBody,
  AttachResponse,
  ClustersResponse,
  HealthInfo,
  HoldResponse,
  LeaseEvent,
  LogsResponse,
  PromptReply,
  PromptsResponse,
  SessionsResponse,
  TemplatesResponse,
} from './api-types.js';
import { CLIENT_HEADER, CLIENT_HEADER_VALUE } from './request-guard.js';
import { SseParser } from './sse-parser.js';
import { agentSocketPath } from './socket-path.js';
import type { TemplateForm, TemplateSummary } from './template-catalog.js';

export interface CallOptions {
  readonly signal?: AbortSignal;
}

/** An open lease on a session (see `AgentClient.lease`). */
export interface LeaseHandle {
  /** Settles when the agent ends the lease (it stopped or went away), not on `release()`. */
  readonly lost: Promise<void>;
  /** Closes the lease: the agent stops the session after the grace unless it is leased again. */
  release(): void;
}

type Method = 'GET' | 'POST' | 'DELETE';

/** Sent on every request: the agent refuses state changes without it (request-guard.ts). */
const CLIENT_HEADERS = { [CLIENT_HEADER]: CLIENT_HEADER_VALUE } as const;

export class AgentClient {
  constructor(readonly socketPath: string = agentSocketPath()) {}

  health(o: CallOptions = {}): Promise<HealthInfo> {
    return this.call('GET', '/v1/health', o);
  }

  /** Asks the agent to stop; it answers first, then closes. */
  async shutdown(o: CallOptions = {}): Promise<void> {
    await this.call('POST', '/v1/shutdown', o);
  }

  clusters(o: CallOptions = {}): Promise<ClustersResponse> {
    return this.call('GET', '/v1/clusters', o);
  }

  site(cluster: string, o: CallOptions = {}): Promise<SiteInfo> {
    return this.call('GET', `/v1/clusters/${enc(cluster)}/site`, o);
  }

  async discover(cluster: string, o: CallOptions = {}): Promise<readonly SessionRecord[]> {
    const r = await this.call<SessionsResponse>('POST', `/v1/clusters/${enc(cluster)}/discover`, o);
    return r.sessions;
  }

  async templates(o: CallOptions = {}): Promise<readonly TemplateSummary[]> {
    return (await this.call<TemplatesResponse>('GET', '/v1/templates', o)).templates;
  }

  templateForm(name: string, cluster: string, o: CallOptions = {}): Promise<TemplateForm> {
    return this.call('GET', `/v1/templates/${enc(name)}/form?cluster=${enc(cluster)}`, o);
  }

  async sessions(o: CallOptions = {}): Promise<readonly SessionRecord[]> {
    return (await this.call<SessionsResponse>('GET', '/v1/sessions', o)).sessions;
  }

  session(id: string, o: CallOptions = {}): Promise<SessionRecord> {
    return this.call('GET', `/v1/sessions/${enc(id)}`, o);
  }

  startSession(spec: SessionSpec, o: CallOptions = {}): Promise<SessionRecord> {
    return this.call('POST', '/v1/sessions', o, spec);
  }

  /** Cancels the session's job; resolves with the record in state `stopping`. */
  stopSession(id: string, o: CallOptions = {}): Promise<SessionRecord> {
    return this.call('DELETE', `/v1/sessions/${enc(id)}`, o);
  }

  adoptSession(id: string, o: CallOptions = {}): Promise<SessionRecord> {
    return this.call('POST', `/v1/sessions/${enc(id)}/adopt`, o);
  }

  /** Forgets an ended or discovered session; never cancels anything. */
  async forgetSession(id: string, o: CallOptions = {}): Promise<void> {
    await this.call('POST', `/v1/sessions/${enc(id)}/forget`, o);
  }

  async logs(id: string, o: CallOptions & { readonly lines?: number } = {}): Promise<string> {
    const query = o.lines === undefined ? '' : `?lines=${o.lines}`;
    return (await this.call<LogsResponse>('GET', `/v1/sessions/${enc(id)}/logs${query}`, o)).text;
  }

  /** A loopback URL for one of the session's endpoints, with its token. */
  access(
    id: string,
    o: CallOptions & { readonly endpoint?: string } = {},
  ): Promise<AccessResponse> {
    const query = o.endpoint === undefined ? '' : `?endpoint=${enc(o.endpoint)}`;
    return this.call('POST', `/v1/sessions/${enc(id)}/access${query}`, o);
  }

  /**
   * Forwards every port a client of the session's engine (Dask, ipyparallel) needs and copies its
   * client files to a private local directory; resolves with the address and the file names.
   */
  attach(id: string, o: CallOptions = {}): Promise<AttachResponse> {
    return this.call('POST', `/v1/sessions/${enc(id)}/attach`, o);
  }

  /**
   * Leases the session: while this process keeps the returned lease open the agent leaves the
   * session alone; once it closes (release, exit, SIGKILL) the agent stops the session after
   * `graceSeconds` (default 10) unless it is leased again or held. Resolves once the agent has
   * taken the lease.
   */
  async lease(
    id: string,
    o: CallOptions & { readonly graceSeconds?: number } = {},
  ): Promise<LeaseHandle> {
    const body = o.graceSeconds === undefined ? {} : { graceSeconds: o.graceSeconds };
    return (await this.openLease(`/v1/sessions/${enc(id)}/lease`, body, o)).handle;
  }

  /**
   * Starts a session leased from the start (see `lease`): the way a client that chooses the
   * kernel's key (`spec.kernelKey`, the launcher) must start it. Resolves with the new record
   * and the lease once the job is queued.
   */
  async startLeasedSession(
    spec: SessionSpec,
    o: CallOptions & { readonly graceSeconds?: number } = {},
  ): Promise<{ readonly record: SessionRecord; readonly lease: LeaseHandle }> {
    const lease = o.graceSeconds === undefined ? {} : { graceSeconds: o.graceSeconds };
    const { first, handle } = await this.openLease('/v1/sessions', { ...spec, lease }, o);
    if (first.type !== 'lease' || first.session === undefined) {
      handle.release();
      throw new AgentError(
        'The agent started no session (its answer had no record).',
        500,
        undefined,
      );
    }
    return { record: first.session, lease: handle };
  }

  /** POSTs `body` and holds the answer open: the lease lasts as long as this request. */
  private openLease(
    path: string,
    body: unknown,
    o: CallOptions,
  ): Promise<{ readonly first: LeaseEvent; readonly handle: LeaseHandle }> {
    throwIfAborted(o.signal);
    const payload = JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath,
        method: 'POST',
        path,
        // Its own connection: a lease must not share a socket with (or wait behind) other calls.
        agent: false,
        headers: {
          ...CLIENT_HEADERS,
          accept: 'application/x-ndjson',
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      });
      let settleLost: () => void = () => undefined;
      const lost = new Promise<void>((r) => {
        settleLost = r;
      });
      let released = false;
      const handle: LeaseHandle = {
        lost,
        release: () => {
          released = true;
          req.destroy();
        },
      };
      const onAbort = (): void => {
        req.destroy();
        reject(new AbortedError());
      };
      o.signal?.addEventListener('abort', onAbort, { once: true });
      req.on('error', (err) => {
        o.signal?.removeEventListener('abort', onAbort);
        reject(this.unreachable(err));
        if (!released) settleLost();
      });
      req.on('response', (res) => {
        const status = res.statusCode ?? 500;
        if (status >= 400) {
          readAll(res).then((text) => {
            o.signal?.removeEventListener('abort', onAbort);
            reject(errorFromAnswer(status, text));
          }, reject);
          return;
        }
        // The first line is the lease (with the record, for a start); pings follow.
        let line = '';
        const onData = (chunk: Buffer): void => {
          line += chunk.toString('utf8');
          const end = line.indexOf('\n');
          if (end < 0) return;
          res.off('data', onData);
          res.resume();
          o.signal?.removeEventListener('abort', onAbort);
          try {
            resolve({ first: JSON.parse(line.slice(0, end)) as LeaseEvent, handle });
          } catch (err) {
            handle.release();
            reject(
              new AgentError('The agent answered a lease with no JSON line.', status, undefined, {
                cause: err,
              }),
            );
          }
        };
        res.on('data', onData);
        res.once('close', () => {
          if (!released) settleLost();
        });
      });
      req.end(payload);
    });
  }

  /** Keeps the session through lost leases for `seconds` (a kernel restart); resolves with when. */
  holdSession(id: string, seconds: number, o: CallOptions = {}): Promise<HoldResponse> {
    return this.call('POST', `/v1/sessions/${enc(id)}/hold`, o, { seconds });
  }

  async prompts(o: CallOptions = {}): Promise<readonly PromptEvent[]> {
    return (await this.call<PromptsResponse>('GET', '/v1/prompts', o)).prompts;
  }

  /** Answers a prompt; a ConflictError-kind AgentError (409) if another client was first. */
  async answerPrompt(id: string, reply: PromptReply, o: CallOptions = {}): Promise<void> {
    await this.call('POST', `/v1/prompts/${enc(id)}`, o, reply);
  }

  /**
   * Streams events to `onEvent`, a snapshot first, until `signal` fires (resolves) or the agent
   * ends the stream (resolves too: reconnect to get a fresh snapshot).
   */
  events(onEvent: (event: AgentStreamEvent) => void, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) {
        resolve();
        return;
      }
      const req = http.request({
        socketPath: this.socketPath,
        path: '/v1/events',
        headers: { ...CLIENT_HEADERS, accept: 'text/event-stream' },
      });
      const onAbort = (): void => {
        req.destroy();
        resolve();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (err?: unknown): void => {
        signal.removeEventListener('abort', onAbort);
        if (err === undefined || signal.aborted) resolve();
        else
          reject(
            err instanceof Error
              ? err
              : new AgentError('The event stream failed.', undefined, undefined, { cause: err }),
          );
      };
      req.on('error', (err) => {
        done(this.unreachable(err));
      });
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          readAll(res).then((text) => {
            done(errorFromAnswer(res.statusCode ?? 500, text));
          }, done);
          return;
        }
        const parser = new SseParser();
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          for (const message of parser.push(chunk)) {
            onEvent(JSON.parse(message.data) as AgentStreamEvent);
          }
        });
        res.on('end', () => {
          done();
        });
        res.on('error', done);
      });
      req.end();
    });
  }

  private call<T = unknown>(
    method: Method,
    path: string,
    o: CallOptions,
    body?: unknown,
  ): Promise<T> {
    throwIfAborted(o.signal);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<T>((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath,
        method,
        path,
        headers: {
          ...CLIENT_HEADERS,
          accept: 'application/json',
          ...(payload === undefined
            ? {}
            : {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(payload),
              }),
        },
        ...(o.signal === undefined ? {} : { signal: o.signal }),
      });
      req.on('error', (err) => {
        reject(o.signal?.aborted === true ? new AbortedError() : this.unreachable(err));
      });
      req.on('response', (res) => {
        readAll(res).then((text) => {
          const status = res.statusCode ?? 500;
          if (status >= 400) reject(errorFromAnswer(status, text));
          else resolve((text === '' ? undefined : JSON.parse(text)) as T);
        }, reject);
      });
      req.end(payload);
    });
  }

  private unreachable(err: Error): AgentError {
    const code = (err as NodeJS.ErrnoException).code;
    const missing = code === 'ENOENT' || code === 'ECONNREFUSED';
    return new AgentError(
      missing
        ? `The hpc-jupyter agent is not running (nothing answers on ${this.socketPath}).`
        : `Lost the connection to the hpc-jupyter agent: ${err.message}`,
      undefined,
      'AgentUnreachable',
      { cause: err, hint: 'Start it with `hpc-jupyter agent`; clients also start it on demand.' },
    );
  }
}

function enc(part: string): string {
  return encodeURIComponent(part);
}

function readAll(res: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    res.on('error', reject);
  });
}

/** The agent's `{ error }` answer as the error to throw. */
export function errorFromAnswer(status: number, text: string): Error {
  let body: Partial<ApiErrorBody> = {};
  try {
    body = JSON.parse(text) as Partial<ApiErrorBody>;
  } catch {
    // Not our JSON (something else on the socket?): report the status and text as they are.
  }
  const e = body.error;
  if (e === undefined) {
    return new AgentError(`The agent answered ${status}: ${text.slice(0, 200)}`, status, undefined);
  }
  const hint = e.hint === undefined ? {} : { hint: e.hint };
  if (e.template !== undefined && e.problems !== undefined) {
    return new InvalidParametersError(e.template, e.problems, hint);
  }
  return new AgentError(e.message, status, e.kind, hint);
}
