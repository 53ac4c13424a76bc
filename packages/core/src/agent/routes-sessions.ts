/**
 * Routes about sessions: list, start, stop, adopt, forget, logs, local access, and attaching a
 * client on this machine to an engine.
 */
import { InvalidInputError } from '../errors.js';
import type { ParamValue, SessionSpec } from '../sessions/types.js';
import type {
  AccessResponse,
  AttachResponse,
  LogsResponse,
  SessionsResponse,
} from './api-types.js';
import { isRecord } from './http-json.js';
import type { Route } from './router.js';
import { requireSession, type RouteDeps } from './routes.js';

export const MAX_LOG_LINES = 10_000;

export function sessionRoutes(deps: RouteDeps): Route[] {
  const { sessions } = deps;
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
      handle: async ({ body, signal }) => {
        const spec = parseSessionSpec(await body());
        // A client that gives up before the job is queued cancels the submission with it.
        return { status: 201, body: await sessions.start(spec, { signal }) };
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
