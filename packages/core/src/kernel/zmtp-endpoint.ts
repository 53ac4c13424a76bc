/** ZeroMQ endpoints as Jupyter connection files name them (tcp:// and ipc://), and the linger. */

export type ZmtpEndpoint =
  | { readonly transport: 'tcp'; readonly host: string; readonly port: number }
  | { readonly transport: 'ipc'; readonly path: string };

export function parseEndpoint(endpoint: string): ZmtpEndpoint {
  if (endpoint.startsWith('ipc://')) return { transport: 'ipc', path: endpoint.slice(6) };
  const tcp = /^tcp:\/\/(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(endpoint);
  if (tcp === null) throw new Error(`not a ZeroMQ tcp:// or ipc:// address: ${endpoint}`);
  const host = tcp[1] ?? tcp[2] ?? '';
  return { transport: 'tcp', host: host === '*' ? '0.0.0.0' : host, port: Number(tcp[3]) };
}

/** How long what is still unsent at close keeps going out (the linger Jupyter's sockets use). */
export const LINGER_MS = 1000;
