/**
 * A small router for the `/v1` API. Routes are declared with OpenAPI path templates
 * (`/v1/sessions/{id}`), so the same table drives dispatch and the test that keeps
 * `openapi/agent.yaml` in step with the server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NotFoundError } from '../errors.js';
import { readJsonBody, sendError, sendJson } from './http-json.js';

export type HttpMethod = 'GET' | 'POST' | 'DELETE';

export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Path parameters, decoded. */
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** Fires when the client goes away before the answer is sent. */
  readonly signal: AbortSignal;
  /** Reads the JSON body (undefined when empty); InvalidInputError when it is not JSON. */
  readonly body: () => Promise<unknown>;
}

/** A JSON answer, or `streaming` when the handler took over the response (server-sent events). */
export type RouteResult = { readonly status?: number; readonly body: unknown } | 'streaming';

export interface Route {
  readonly method: HttpMethod;
  /** An OpenAPI path template. */
  readonly path: string;
  handle(ctx: RouteContext): Promise<RouteResult> | RouteResult;
}

interface CompiledRoute {
  readonly route: Route;
  readonly pattern: RegExp;
  readonly names: readonly string[];
}

function compile(route: Route): CompiledRoute {
  const names: string[] = [];
  const source = route.path
    .split('/')
    .map((part) => {
      const m = /^\{([A-Za-z]+)\}$/.exec(part);
      if (m?.[1] === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(m[1]);
      return '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}$`), names };
}

export class Router {
  private readonly compiled: readonly CompiledRoute[];

  constructor(readonly routes: readonly Route[]) {
    this.compiled = routes.map(compile);
  }

  /** Handles `req` if its path is one of ours; errors become JSON error answers. */
  async dispatch(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client went away'));
    });
    try {
      const match = this.match(req.method ?? 'GET', url.pathname, res);
      if (match === undefined) return;
      const [route, params] = match;
      const result = await route.handle({
        req,
        res,
        params,
        query: url.searchParams,
        signal: controller.signal,
        body: () => readJsonBody(req, controller.signal),
      });
      if (result === 'streaming') return;
      if (result.status === 204) {
        res.writeHead(204).end();
        return;
      }
      sendJson(res, result.status ?? 200, result.body);
    } catch (err) {
      sendError(res, err);
    }
  }

  private match(
    method: string,
    pathname: string,
    res: ServerResponse,
  ): [Route, Record<string, string>] | undefined {
    const allowed: string[] = [];
    for (const { route, pattern, names } of this.compiled) {
      const m = pattern.exec(pathname);
      if (m === null) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      for (const [i, name] of names.entries()) {
        params[name] = decodeParam(m[i + 1] ?? '');
      }
      return [route, params];
    }
    if (allowed.length > 0) {
      res.setHeader('allow', allowed.join(', '));
      sendJson(res, 405, {
        error: { message: `${method} is not allowed on ${pathname}.`, kind: 'MethodNotAllowed' },
      });
      return undefined;
    }
    throw new NotFoundError(`No API route ${method} ${pathname}.`, {
      hint: 'See openapi/agent.yaml in @hpc-jupyter/core for the routes.',
    });
  }
}

function decodeParam(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    // A malformed escape cannot name anything we have; keep it raw so lookups simply miss.
    return raw;
  }
}
