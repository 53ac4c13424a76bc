/**
 * The connection file Jupyter (or VS Code) hands a kernel: where to bind its five ports and the
 * key to sign messages with. Read once at start; the key never leaves this process except to the
 * agent, over its private socket, as the remote kernel's key.
 */
import { readFileSync } from 'node:fs';

export const CHANNELS = ['shell', 'iopub', 'stdin', 'control', 'hb'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface ConnectionInfo {
  readonly transport: 'tcp' | 'ipc';
  readonly ip: string;
  readonly key: string;
  readonly signatureScheme: string;
  readonly ports: Readonly<Record<Channel, number>>;
  readonly kernelName?: string;
}

export class ConnectionFileError extends Error {
  override readonly name = 'ConnectionFileError';
}

export function parseConnectionInfo(text: string, file = 'the connection file'): ConnectionInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConnectionFileError(`${file} is not JSON: ${(error as Error).message}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ConnectionFileError(`${file} is not a JSON object`);
  }
  const o = raw as Record<string, unknown>;
  const transport = o['transport'] ?? 'tcp';
  if (transport !== 'tcp' && transport !== 'ipc') {
    throw new ConnectionFileError(
      `${file}: transport must be tcp or ipc, got ${JSON.stringify(transport)}`,
    );
  }
  const ip = o['ip'] ?? '127.0.0.1';
  if (typeof ip !== 'string' || ip === '') throw new ConnectionFileError(`${file}: no "ip"`);
  const key = o['key'] ?? '';
  if (typeof key !== 'string') throw new ConnectionFileError(`${file}: "key" is not a string`);
  const scheme = o['signature_scheme'] ?? 'hmac-sha256';
  if (typeof scheme !== 'string') {
    throw new ConnectionFileError(`${file}: "signature_scheme" is not a string`);
  }
  const ports = {} as Record<Channel, number>;
  for (const channel of CHANNELS) {
    const port = o[`${channel}_port`];
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw new ConnectionFileError(`${file}: "${channel}_port" must be a port number (1-65535)`);
    }
    ports[channel] = port;
  }
  const kernelName = typeof o['kernel_name'] === 'string' ? o['kernel_name'] : undefined;
  return {
    transport,
    ip,
    key,
    signatureScheme: scheme,
    ports,
    ...(kernelName === undefined ? {} : { kernelName }),
  };
}

/** Synchronous on purpose: it is the first thing the launcher does, before anything else loads. */
export function readConnectionInfo(file: string): ConnectionInfo {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConnectionFileError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parseConnectionInfo(text, file);
}

/** The ZeroMQ endpoint a channel binds to (ipc: `<ip>-<port>`, as jupyter_client names it). */
export function endpointOf(info: ConnectionInfo, channel: Channel): string {
  const port = info.ports[channel];
  if (info.transport === 'ipc') return `ipc://${info.ip}-${port}`;
  const host = info.ip.includes(':') ? `[${info.ip}]` : info.ip;
  return `tcp://${host}:${port}`;
}
