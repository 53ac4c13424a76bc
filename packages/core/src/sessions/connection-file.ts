/**
 * Reading a job's `connection.json`: the file whose appearance in the session directory means
 * "ready". Pure: text in, a SessionConnection (or a reason it is not usable) out. The endpoints it
 * yields are the only targets the agent's tunnels and proxy will ever reach for a session, so
 * hosts and ports are checked strictly, and anything that looks like a secret is dropped from the
 * copy of the raw file that is kept in the record.
 *
 * Accepted shapes (fields in snake_case or camelCase):
 *   jupyter: { kind, node?, host | ip, port, base_url? }
 *   kernel:  { kind: "kernel", node?, ip | host, shell_port, iopub_port, stdin_port,
 *              control_port, hb_port }  (a Jupyter connection file less its key), or `ports: {...}`
 *   any:     { kind, node?, endpoints: [{ name, host, port, base_path?, tls? }] }
 *
 * A `tls: { ca, cert, key, server_name? }` object (files relative to the session directory, and
 * the name the certificate carries, by default `node`) says the service sits behind the job's
 * TLS relay: every kernel endpoint then, or each endpoint of the list that says `tls: true`.
 */
import type { EndpointTls, SessionConnection, SessionEndpoint } from './types.js';

export const KERNEL_CHANNELS = ['shell', 'iopub', 'stdin', 'control', 'hb'] as const;

export type ParsedConnection =
  | { readonly ok: true; readonly connection: SessionConnection }
  | { readonly ok: false; readonly reason: string };

/** Host names and IPv4/IPv6 addresses; nothing a URL or a shell could misread. */
const HOST_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._:%-]{0,253})$/;
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/;
const SECRET_KEY = /key|token|secret|password|passwd|credential|cookie|cert/i;
/** A relative path inside the session directory: plain names, no "." or ".." component. */
const RELATIVE_FILE = /^(?!.*(?:^|\/)\.{1,2}(?:\/|$))[A-Za-z0-9._-]+(?:\/[A-Za-z0-9._-]+)*$/;

/** Parses connection.json; `fallbackKind` (from the template) names what it is if it does not. */
export function parseConnectionFile(text: string, fallbackKind: string): ParsedConnection {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `connection.json is not JSON: ${(error as Error).message}` };
  }
  if (!isObject(value)) return { ok: false, reason: 'connection.json is not a JSON object' };
  try {
    return { ok: true, connection: toConnection(value, fallbackKind) };
  } catch (error) {
    return { ok: false, reason: `connection.json: ${(error as Error).message}` };
  }
}

function toConnection(raw: Record<string, unknown>, fallbackKind: string): SessionConnection {
  const kind = optionalString(raw, 'kind') ?? fallbackKind;
  const node = optionalString(raw, 'node');
  const base = {
    kind,
    ...(node === undefined ? {} : { node }),
    raw: withoutSecrets(raw),
  };
  const tls = raw['tls'] === undefined ? undefined : relayTls(raw['tls'], node);
  if (Array.isArray(raw['endpoints'])) {
    const endpoints = raw['endpoints'].map((e, i) => {
      if (!isObject(e)) throw new Error(`endpoints[${i}] is not an object`);
      const parsed = endpoint(e, `endpoints[${i}]`, undefined, defaultHost(raw));
      if (e['tls'] === undefined || e['tls'] === false) return parsed;
      if (e['tls'] !== true || tls === undefined) {
        throw new Error(`endpoints[${i}].tls must be true, with a "tls" object beside "endpoints"`);
      }
      return { ...parsed, tls };
    });
    if (endpoints.length === 0) throw new Error('"endpoints" is empty');
    const names = new Set(endpoints.map((e) => e.name));
    if (names.size !== endpoints.length) throw new Error('two endpoints have the same name');
    return { ...base, endpoints };
  }
  if (kind === 'kernel') {
    const host = requireHost(defaultHost(raw), 'ip');
    const ports = isObject(raw['ports']) ? raw['ports'] : raw;
    const kernelPorts: Record<string, number> = {};
    for (const channel of KERNEL_CHANNELS) {
      const port = ports === raw ? raw[`${channel}_port`] : ports[channel];
      kernelPorts[channel] = requirePort(port, `${channel}_port`);
    }
    // One endpoint per channel, so a client can tunnel to each by name and to nothing else.
    const endpoints: SessionEndpoint[] = KERNEL_CHANNELS.map((channel) => ({
      name: channel === 'shell' ? 'kernel' : `kernel-${channel}`,
      host,
      port: kernelPorts[channel] as number,
      ...(tls === undefined ? {} : { tls }),
    }));
    return { ...base, endpoints, kernelPorts };
  }
  return { ...base, endpoints: [endpoint(raw, 'connection', kind)] };
}

function endpoint(
  e: Record<string, unknown>,
  where: string,
  defaultName?: string,
  host?: unknown,
): SessionEndpoint {
  const name = optionalString(e, 'name') ?? defaultName;
  if (name === undefined || !NAME_PATTERN.test(name)) {
    throw new Error(`${where}: "name" must be lower-case letters, digits and "-"`);
  }
  const basePath =
    optionalString(e, 'base_url') ??
    optionalString(e, 'basePath') ??
    optionalString(e, 'base_path') ??
    optionalString(e, 'baseUrl');
  if (basePath !== undefined && (!basePath.startsWith('/') || /[\s?#]/.test(basePath))) {
    throw new Error(`${where}: the base path must be an absolute URL path, got ${basePath}`);
  }
  return {
    name,
    host: requireHost(e['host'] ?? e['ip'] ?? host, `${where}.host`),
    port: requirePort(e['port'], `${where}.port`),
    ...(basePath === undefined ? {} : { basePath }),
  };
}

/** The `tls` object: the relay's files in the session directory and its certificate's name. */
function relayTls(value: unknown, node: string | undefined): EndpointTls {
  if (!isObject(value)) throw new Error('"tls" must be an object naming ca, cert and key files');
  const file = (field: string): string => {
    const v = value[field];
    if (typeof v !== 'string' || !RELATIVE_FILE.test(v)) {
      throw new Error(`"tls.${field}" must be a file relative to the session directory`);
    }
    return v;
  };
  const serverName = optionalString(value, 'server_name') ?? optionalString(value, 'serverName');
  return {
    caFile: file('ca'),
    certFile: file('cert'),
    keyFile: file('key'),
    serverName: requireHost(serverName ?? node, 'tls.server_name'),
  };
}

function defaultHost(raw: Record<string, unknown>): unknown {
  return raw['host'] ?? raw['ip'] ?? raw['address'];
}

function requireHost(value: unknown, field: string): string {
  if (typeof value !== 'string' || !HOST_PATTERN.test(value)) {
    throw new Error(`"${field}" must be a host name or address`);
  }
  return value;
}

function requirePort(value: unknown, field: string): number {
  const port = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(`"${field}" must be a port number (1-65535)`);
  }
  return port;
}

function optionalString(o: Record<string, unknown>, key: string): string | undefined {
  const value = o[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A deep copy without any field whose name suggests a secret (`key`, `token`, ...). */
export function withoutSecrets(value: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (SECRET_KEY.test(k)) continue;
    if (isObject(v)) out[k] = withoutSecrets(v);
    else if (Array.isArray(v))
      out[k] = v.map((x: unknown) => (isObject(x) ? withoutSecrets(x) : x));
    else out[k] = v;
  }
  return out;
}
