/**
 * Who may talk to the agent over HTTP. The socket is private to its user, but JupyterLab relays
 * the browser to it through jupyter-server-proxy, which skips Jupyter's XSRF check: any page the
 * user visits could send the agent "simple" requests (a form POST, a no-cors fetch) with the
 * user's Jupyter cookie. This module refuses those before any route runs:
 *
 * - a request whose `Sec-Fetch-Site` is `cross-site` or `same-site` (another port of 127.0.0.1
 *   is the same site: its cookies are sent), GETs included, since the event stream and the
 *   session list are worth reading;
 * - a request whose `Origin` is present and not the origin the browser addressed (the `Host`, or
 *   `X-Forwarded-Host` behind a reverse proxy, that the request carries through the proxy);
 * - a CORS preflight (OPTIONS with `Access-Control-Request-Method`): the agent grants none;
 * - on the `/v1` API, a state-changing request without `X-HPC-Jupyter: 1` (a page cannot add a
 *   header without a preflight), and a (non-empty) body that is not `application/json`.
 *
 * Clients on this machine (CLI, launcher, VS Code, Python) send no Origin and no Sec-Fetch-*
 * headers; the JupyterLab sidebar is same-origin. Pure: headers in, a refusal (or none) out.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { HpcError } from '../errors.js';

/** The header every client sends on POST, PUT, PATCH and DELETE to `/v1/...`. */
export const CLIENT_HEADER = 'x-hpc-jupyter';
export const CLIENT_HEADER_VALUE = '1';

export type RefusalStatus = 400 | 403 | 408 | 413 | 415 | 431 | 503;

/**
 * A request the agent will not serve, with its HTTP status. `close` asks for the connection to
 * be closed after the answer: the rest of an oversized body is not worth reading.
 */
export class RequestRefusedError extends HpcError {
  override readonly name = 'RequestRefused';
  constructor(
    readonly status: RefusalStatus,
    message: string,
    hint: string,
    readonly close = false,
  ) {
    super(message, { hint });
  }
}

export type GuardedPath = 'api' | 'proxy';

const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const BROWSER_HINT =
  'The agent serves only its own user: the CLI, editors and the JupyterLab sidebar on its own origin.';

function first(value: string | string[] | undefined): string | undefined {
  const one = Array.isArray(value) ? value[0] : value;
  return one?.split(',')[0]?.trim().toLowerCase();
}

/** `host[:port]` without the scheme's default port, so "a:80" and "a" compare equal. */
function normalHost(host: string, scheme: string): string {
  const defaultPort = scheme === 'https:' ? ':443' : ':80';
  return host.endsWith(defaultPort) ? host.slice(0, -defaultPort.length) : host;
}

/** The refusal for this request, or undefined when it may be served. */
export function refusal(
  method: string,
  headers: IncomingHttpHeaders,
  path: GuardedPath,
): RequestRefusedError | undefined {
  const site = first(headers['sec-fetch-site']);
  if (site === 'cross-site' || site === 'same-site') {
    return new RequestRefusedError(
      403,
      `Refused a ${site} request: the agent answers no other web page.`,
      BROWSER_HINT,
    );
  }
  const origin = headers.origin;
  if (origin !== undefined && !sameOrigin(origin, headers)) {
    return new RequestRefusedError(
      403,
      `Refused a request from the origin ${JSON.stringify(origin.slice(0, 200))}: it is not the Jupyter server's own.`,
      BROWSER_HINT,
    );
  }
  if (method === 'OPTIONS' && headers['access-control-request-method'] !== undefined) {
    return new RequestRefusedError(
      403,
      'Refused a CORS preflight: the agent allows no cross-origin requests.',
      BROWSER_HINT,
    );
  }
  if (path === 'api') return apiRefusal(method, headers);
  return undefined;
}

function apiRefusal(method: string, headers: IncomingHttpHeaders): RequestRefusedError | undefined {
  if (STATE_CHANGING.has(method) && headers[CLIENT_HEADER] !== CLIENT_HEADER_VALUE) {
    return new RequestRefusedError(
      403,
      `Refused ${method}: it lacks the header "X-HPC-Jupyter: ${CLIENT_HEADER_VALUE}".`,
      'Every hpc-jupyter client sends it; a web page cannot without a CORS preflight, which the agent refuses.',
    );
  }
  const type = headers['content-type'];
  const hasBody =
    headers['transfer-encoding'] !== undefined ||
    (headers['content-length'] !== undefined && headers['content-length'] !== '0');
  // Only a body counts: jupyter-server-proxy's HTTP client labels every body-less POST
  // application/x-www-form-urlencoded on its own.
  if (hasBody && !isJson(type)) {
    return new RequestRefusedError(
      415,
      `Refused a body of type ${JSON.stringify(type ?? '(none)')}: the agent takes only application/json.`,
      'Send the body as JSON with Content-Type: application/json.',
    );
  }
  return undefined;
}

function isJson(type: string | undefined): boolean {
  return type?.split(';')[0]?.trim().toLowerCase() === 'application/json';
}

function sameOrigin(origin: string, headers: IncomingHttpHeaders): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    // "null" (a sandboxed frame, a file: page) and anything unparsable is no origin of ours.
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  const wanted = normalHost(url.host.toLowerCase(), url.protocol);
  const hosts = [first(headers['x-forwarded-host']), first(headers.host)];
  return hosts.some((h) => h !== undefined && normalHost(h, url.protocol) === wanted);
}
