/**
 * Routes about sessions: list, start, stop, adopt, forget, logs, local access, and attaching a
 * client on this machine to an engine. A start may come with a lease (the kernel launcher's):
 * only then may the client choose the kernel's key; everyone else's kernels get one the agent
 * makes.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { InvalidInputError } from '../errors.js';
import type { ParamValue, SessionSpec } from '../sessions/types.js';
import type {
  AccessResponse,
  AttachResponse,
  LogsResponse,
  SessionsResponse,
} from './api-types.js';
import { isRecord } from './http-json.js';
import { RequestRefusedError } from './request-guard.js';
import type { Route, RouteResult } from './router.js';
import { seconds, streamLease } from './routes-leases.js';
import { requireSession, type RouteDeps } from './routes.js';
import { DEFAULT_LEASE_GRACE_MS } from './session-leases.js';

export const MAX_LOG_LINES = 10_000;

export function sessionRoutes(deps: RouteDeps): Route[] {
  const { sessions, leases } = deps;
  const id = (params: Readonly<Record<string, string>>): string => params['id'] ?? '';
  return [
    {
      method: 'GET',
      path: '/v1/sessions',
      handle: () => {
        const body: SessionsResponse = { sessions: sessions.list() };
        return { body };
      },
    },
    {
      method: 'POST',
      path: '/v1/sessions',
      handle: async ({ body, signal, req, res }): Promise<RouteResult> => {
        const value = await body();
        const spec = parseSessionSpec(value);
        const graceSeconds = leaseOf(value);
        if (spec.kernelKey !== undefined) checkKeyGiver(req.headers, graceSeconds);
        // A client that gives up before the job is queued cancels the submission with it.
        const record = await sessions.start(spec, { signal });
        if (graceSeconds === undefined) return { status: 201, body: record };
        streamLease(
          res,
          leases,
          { type: 'lease', id: record.id, graceSeconds, session: record },
          { status: 201, signal },
        );
        return 'streaming';
      },
    },
    {
      method: 'GET',
      path: '/v1/sessions/{id}',
      handle: ({ params }) => ({ body: requireSession(sessions, id(params)) }),
    },
    {
      method: 'DELETE',
      path: '/v1/sessions/{id}',
      handle: async ({ params }) => {
        requireSession(sessions, id(params));
        // No request signal: a cancel once asked for must reach the scheduler even if the
        // client (a closing notebook, a Ctrl-C) stops waiting for the answer.
        return { body: await sessions.stop(id(params)) };
      },
    },
    {
      method: 'POST',
      path: '/v1/sessions/{id}/adopt',
      handle: async ({ params }) => {
        requireSession(sessions, id(params));
        return { body: await sessions.adopt(id(params)) };
      },
    },
    {
      method: 'POST',
      path: '/v1/sessions/{id}/forget',
      handle: async ({ params }) => {
        requireSession(sessions, id(params));
        await sessions.remove(id(params));
        return { status: 204, body: undefined };
      },
    },
    {
      method: 'GET',
      path: '/v1/sessions/{id}/logs',
      handle: async ({ params, query, signal }) => {
        requireSession(sessions, id(params));
        const lines = parseLines(query.get('lines'));
        const text = await sessions.logs(id(params), {
          signal,
          ...(lines === undefined ? {} : { lines }),
        });
        const body: LogsResponse = { id: id(params), text };
        return { body };
      },
    },
    {
      method: 'POST',
      path: '/v1/sessions/{id}/access',
      handle: async ({ params, query, signal }) => {
        requireSession(sessions, id(params));
        const endpoint = query.get('endpoint') ?? undefined;
        const access = await sessions.access(id(params), endpoint, { signal });
        const token = await sessions.secret(id(params));
        const body: AccessResponse = {
          url: access.url,
          localHost: access.localHost,
          localPort: access.localPort,
          endpoint: access.endpoint,
          ...(token === undefined ? {} : { token }),
        };
        return { body };
      },
    },
    {
      method: 'POST',
      path: '/v1/sessions/{id}/attach',
      handle: async ({ params, signal }) => {
        requireSession(sessions, id(params));
        const body: AttachResponse = await sessions.attach(id(params), { signal });
        return { body };
      },
    },
  ];
}

function parseLines(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  if (!/^[1-9][0-9]{0,5}$/.test(value) || Number(value) > MAX_LOG_LINES) {
    throw new InvalidInputError(`lines must be a whole number from 1 to ${MAX_LOG_LINES}.`);
  }
  return Number(value);
}

/**
 * The grace of the lease a start asks for (`"lease": {}` or `{ "graceSeconds": N }`), or
 * undefined without one.
 */
function leaseOf(value: unknown): number | undefined {
  const lease = isRecord(value) ? value['lease'] : undefined;
  if (lease === undefined) return undefined;
  if (!isRecord(lease)) {
    throw new InvalidInputError('"lease" must be an object: {} or { "graceSeconds": N }.');
  }
  return seconds(lease, 'graceSeconds', DEFAULT_LEASE_GRACE_MS / 1000);
}

/**
 * Headers jupyter-server-proxy adds to everything it relays, and headers only browsers send:
 * a request with any of them came through the web, not from a launcher on this machine.
 */
const RELAYED = ['x-forwarded-context', 'x-proxycontextpath', 'origin', 'sec-fetch-site'];

/**
 * A client-chosen kernel key is what lets a client execute code in the kernel it starts: taken
 * only from a client that leases the session (it lives as long as that client) and that is not
 * the browser route. Anyone else's kernel gets a key made by the agent.
 */
function checkKeyGiver(headers: IncomingHttpHeaders, graceSeconds: number | undefined): void {
  const hint =
    'Leave "kernelKey" out (the agent makes the key); the kernel launcher sends it with "lease".';
  const relayed = RELAYED.find((name) => headers[name] !== undefined);
  if (relayed !== undefined) {
    throw new RequestRefusedError(
      403,
      `Refused "kernelKey" from a request relayed by a web server (it carries ${relayed}).`,
      hint,
    );
  }
  if (graceSeconds === undefined) {
    throw new RequestRefusedError(
      403,
      'Refused "kernelKey" without "lease": a client that chooses the key must lease the session.',
      hint,
    );
  }
}

/** Checks the shape of a SessionSpec; the session service validates the values. */
export function parseSessionSpec(value: unknown): SessionSpec {
  if (!isRecord(value)) {
    throw new InvalidInputError('Send a JSON object: { "cluster", "template", "params" }.');
  }
  const { cluster, template, params, profile, kernelKey } = value;
  if (typeof cluster !== 'string' || cluster === '') {
    throw new InvalidInputError('"cluster" must be the name of a configured cluster.');
  }
  if (typeof template !== 'string' || template === '') {
    throw new InvalidInputError('"template" must be the name of a template.');
  }
  if (profile !== undefined && typeof profile !== 'string') {
    throw new InvalidInputError('"profile" must be a profile name.');
  }
  if (kernelKey !== undefined && (typeof kernelKey !== 'string' || !KERNEL_KEY.test(kernelKey))) {
    throw new InvalidInputError(
      '"kernelKey" must be 1 to 1024 printable ASCII characters without spaces.',
    );
  }
  const checked = checkParams(params);
  return {
    cluster,
    template,
    params: checked,
    ...(profile === undefined ? {} : { profile }),
    ...(kernelKey === undefined ? {} : { kernelKey }),
  };
}

/** A key the job reads back byte for byte: no whitespace, nothing a shell or file could mangle. */
const KERNEL_KEY = /^[\x21-\x7e]{1,1024}$/;

/** A request's "params": an object of strings, numbers and booleans (absent means none). */
export function checkParams(params: unknown): Record<string, ParamValue> {
  const checked: Record<string, ParamValue> = {};
  if (params === undefined) return checked;
  if (!isRecord(params)) throw new InvalidInputError('"params" must be an object.');
  for (const [key, v] of Object.entries(params)) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw new InvalidInputError(`Parameter "${key}" must be a string, number or boolean.`);
    }
    checked[key] = v;
  }
  return checked;
}
