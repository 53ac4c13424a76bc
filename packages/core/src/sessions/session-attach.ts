/**
 * Attaching to an engine session from outside its job (a client on the user's machine): every
 * port a client of the engine connects to is forwarded through the cluster's SSH connection (by
 * SessionTunnels, so only to endpoints the job's connection.json named), and the engine's client
 * secrets are copied from the session directory into a private local directory:
 *
 *   <state>/attach/<id>/            0700
 *     dask-ca.pem dask-cert.pem dask-key.pem           0600  (Dask: the per-job TLS files)
 *     ipcontroller-client.json                         0600  (ipyparallel: ports are the forwards;
 *                                                            keys and CURVE server key as is)
 *     spark-connect.token                              0600  (Spark Connect: the server's token)
 *
 * The answer names files, never holds a secret. The directory goes when the session ends or is
 * removed (see SessionManager).
 */
import { chmod, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { posix } from 'node:path';
import { HpcError, InvalidInputError, NotReadyError, throwIfAborted } from '../errors.js';
import type { Transport } from '../transport/types.js';
import { isSessionId } from './session-ids.js';
import { writeAtomic } from './session-store.js';
import type { EngineAttachment, SessionAccess, SessionEndpoint, SessionRecord } from './types.js';

/** Engines a client outside the job can attach to. */
export const ATTACHABLE_KINDS = ['dask', 'ipyparallel', 'spark'] as const;

/**
 * The ports of ipyparallel's client file that a client connects to, in the order
 * templates/python/hpc_jupyter/ipp_engine.py (CLIENT_CHANNELS) publishes them as endpoints.
 */
export const IPP_CLIENT_CHANNELS = [
  'registration',
  'control',
  'mux',
  'task',
  'iopub',
  'notification',
  'broadcast',
] as const;

/** The connection.json endpoint that carries one channel of ipyparallel's client file. */
export function ippEndpointName(channel: string): string {
  return channel === 'registration' ? 'controller' : `ipp-${channel}`;
}

/** Where the job keeps what a client needs, relative to its session directory. */
export const DASK_TLS_FILES = {
  caFile: 'dask-tls/ca.pem',
  certFile: 'dask-tls/cert.pem',
  keyFile: 'dask-tls/key.pem',
} as const;
export const IPP_CLIENT_FILE = 'ipyparallel/security/ipcontroller-client.json';
export const SPARK_CONNECT_TOKEN_FILE = 'spark/connect.token';

/** Local names of the copied files inside the session's attach directory. */
const LOCAL_NAMES = {
  caFile: 'dask-ca.pem',
  certFile: 'dask-cert.pem',
  keyFile: 'dask-key.pem',
  ipyparallel: 'ipcontroller-client.json',
  sparkToken: 'spark-connect.token',
} as const;

/** What attaching needs of the session manager. */
export interface AttachContext {
  readonly record: SessionRecord;
  readonly transport: Transport;
  /** Opens (or reuses) the tunnel to one named endpoint of the session. */
  readonly access: (endpoint: string) => Promise<SessionAccess>;
  /** The root of the attach directories (`<state>/attach`); one 0700 subdirectory per session. */
  readonly root: string;
  readonly signal?: AbortSignal;
}

export async function attachEngine(ctx: AttachContext): Promise<EngineAttachment> {
  const { record } = ctx;
  throwIfAborted(ctx.signal);
  const kind = record.connection?.kind ?? record.template;
  if (!(ATTACHABLE_KINDS as readonly string[]).includes(kind)) {
    throw new InvalidInputError(
      `Session ${record.id} runs "${kind}": only Dask, ipyparallel and Spark sessions can be attached to from outside their job.`,
      { hint: 'Use `hpc-jupyter open ID` for a Jupyter server, or a kernel started in the job.' },
    );
  }
  if (record.state !== 'ready' || record.sessionDir === undefined) {
    throw new NotReadyError(`Session ${record.id} is ${record.state}, not ready.`, {
      hint: 'Wait until every worker or engine has registered (`hpc-jupyter status ID`).',
    });
  }
  if (kind === 'spark' && !hasEndpoint(record, 'connect')) {
    throw new InvalidInputError(
      `Session ${record.id} is a Spark cluster without a Spark Connect server: a driver outside the job has nothing to attach to.`,
      {
        hint: 'Start the Spark session with `--param connectServer=true`, or use a kernel in the job (the spark-kernel template).',
      },
    );
  }
  const directory = await privateDir(ctx.root, record.id);
  if (kind === 'dask') return attachDask(ctx, record.sessionDir, directory);
  if (kind === 'spark') return attachSpark(ctx, record.sessionDir, directory);
  return attachIpyparallel(ctx, record.sessionDir, directory);
}

function hasEndpoint(record: SessionRecord, name: string): boolean {
  return (record.connection?.endpoints ?? []).some((e) => e.name === name);
}

/** Removes a session's attach directory (its copied secrets); nothing there is fine. */
export async function removeAttachment(root: string, id: string): Promise<void> {
  if (!isSessionId(id)) return;
  await rm(path.join(root, id), { recursive: true, force: true });
}

async function attachDask(
  ctx: AttachContext,
  sessionDir: string,
  directory: string,
): Promise<EngineAttachment> {
  const { record } = ctx;
  const scheduler = await ctx.access('scheduler');
  const tls = {
    caFile: path.join(directory, LOCAL_NAMES.caFile),
    certFile: path.join(directory, LOCAL_NAMES.certFile),
    keyFile: path.join(directory, LOCAL_NAMES.keyFile),
  };
  for (const which of ['caFile', 'certFile', 'keyFile'] as const) {
    const data = await readRemote(ctx, posix.join(sessionDir, DASK_TLS_FILES[which]));
    await writeAtomic(tls[which], data, 0o600);
  }
  const dashboard = hasEndpoint(record, 'dashboard') ? await ctx.access('dashboard') : undefined;
  const serverHostname = record.connection?.raw?.['tls_server_name'];
  return {
    id: record.id,
    kind: 'dask',
    directory,
    dask: {
      address: `tls://${hostPort(scheduler.localHost, scheduler.localPort)}`,
      ...(typeof serverHostname === 'string' && serverHostname !== '' ? { serverHostname } : {}),
      tls,
      ...(dashboard === undefined ? {} : { dashboardUrl: dashboard.url }),
    },
  };
}

async function attachIpyparallel(
  ctx: AttachContext,
  sessionDir: string,
  directory: string,
): Promise<EngineAttachment> {
  const { record } = ctx;
  const text = await readRemote(ctx, posix.join(sessionDir, IPP_CLIENT_FILE));
  let info: unknown;
  try {
    info = JSON.parse(text);
  } catch {
    throw new HpcError(`Session ${record.id}: the controller's client file is not JSON.`);
  }
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    throw new HpcError(`Session ${record.id}: the controller's client file is not a JSON object.`);
  }
  // Without CurveZMQ anyone on the cluster network can subscribe to the engines' output: such a
  // controller (an older hpc-jupyter's) is not worth forwarding to.
  const curveKey = (info as Record<string, unknown>)['curve_serverkey'];
  if (typeof curveKey !== 'string' || curveKey === '') {
    throw new HpcError(
      `Session ${record.id}: its ipyparallel controller runs without CurveZMQ, so other users could read its engines' output.`,
      { hint: 'Stop it and start a new ipyparallel session: hpc-jupyter turns CurveZMQ on.' },
    );
  }
  const routes = ippRoutes(info as Record<string, unknown>, record.connection?.endpoints ?? []);
  const localPorts = new Map<string, number>();
  let localHost = '127.0.0.1';
  for (const { channel, endpoint } of routes) {
    const access = await ctx.access(endpoint.name);
    localPorts.set(channel, access.localPort);
    localHost = access.localHost;
  }
  const connectionFile = path.join(directory, LOCAL_NAMES.ipyparallel);
  const local = localIppClientInfo(info as Record<string, unknown>, localPorts, localHost);
  await writeAtomic(connectionFile, `${JSON.stringify(local, null, 1)}\n`, 0o600);
  return { id: record.id, kind: 'ipyparallel', directory, ipyparallel: { connectionFile } };
}

async function attachSpark(
  ctx: AttachContext,
  sessionDir: string,
  directory: string,
): Promise<EngineAttachment> {
  const server = await ctx.access('connect');
  const token = (await readRemote(ctx, posix.join(sessionDir, SPARK_CONNECT_TOKEN_FILE))).trim();
  if (!/^[A-Za-z0-9_-]{16,}$/.test(token)) {
    throw new HpcError(`Session ${ctx.record.id}: the Spark Connect token file holds no token.`);
  }
  const tokenFile = path.join(directory, LOCAL_NAMES.sparkToken);
  await writeAtomic(tokenFile, `${token}\n`, 0o600);
  return {
    id: ctx.record.id,
    kind: 'spark',
    directory,
    spark: { remote: sparkRemote(server.localHost, server.localPort), tokenFile },
  };
}

/**
 * The Connect URL of a loopback forward. pyspark sends a token without TLS only to the name
 * "localhost" (over gRPC's local credentials, which check that the peer is loopback), so a
 * forward on 127.0.0.1 or ::1 is named so; any other address would be a mistake here.
 */
export function sparkRemote(localHost: string, localPort: number): string {
  if (localHost !== '127.0.0.1' && localHost !== '::1' && localHost !== 'localhost') {
    throw new HpcError(
      `The forward to the Spark Connect server is not on loopback (${localHost}).`,
    );
  }
  return `sc://localhost:${localPort}`;
}

/**
 * Which endpoint carries each port of the client file. Every port must be one the job published
 * as an endpoint (same port): the agent forwards to nothing else.
 */
export function ippRoutes(
  info: Readonly<Record<string, unknown>>,
  endpoints: readonly SessionEndpoint[],
): { readonly channel: string; readonly endpoint: SessionEndpoint }[] {
  const routes: { channel: string; endpoint: SessionEndpoint }[] = [];
  for (const channel of IPP_CLIENT_CHANNELS) {
    const port = info[channel];
    if (port === undefined) continue;
    const name = ippEndpointName(channel);
    const endpoint = endpoints.find((e) => e.name === name);
    if (endpoint === undefined || endpoint.port !== port) {
      throw new NotReadyError(
        `The controller's "${channel}" port is not among the endpoints its job published (${name}).`,
        {
          hint: 'The job was started by an older hpc-jupyter: start a new ipyparallel session.',
        },
      );
    }
    routes.push({ channel, endpoint });
  }
  if (!routes.some((r) => r.channel === 'registration')) {
    throw new HpcError('The controller\'s client file has no "registration" port.');
  }
  return routes;
}

/**
 * The client file a client on this machine uses: the same key and settings, every channel on
 * its local forward, and no SSH server (the agent's forwards are the tunnel). Pure.
 */
export function localIppClientInfo(
  info: Readonly<Record<string, unknown>>,
  localPorts: ReadonlyMap<string, number>,
  localHost: string,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...info };
  for (const [channel, port] of localPorts) out[channel] = port;
  out['interface'] = `tcp://${localHost}`;
  out['location'] = localHost;
  out['ssh'] = '';
  return out;
}

function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

async function readRemote(ctx: AttachContext, file: string): Promise<string> {
  try {
    return (
      await ctx.transport.readFile(file, ctx.signal === undefined ? {} : { signal: ctx.signal })
    ).toString('utf8');
  } catch (error) {
    throwIfAborted(ctx.signal);
    throw new HpcError(`Cannot read ${file} on ${ctx.record.cluster}.`, {
      cause: error,
      hint: 'The job writes it before it is ready; check the session with `hpc-jupyter logs ID`.',
    });
  }
}

/** `<root>/<id>`, both 0700 and checked to be so. */
async function privateDir(root: string, id: string): Promise<string> {
  if (!isSessionId(id)) throw new HpcError(`Not a session id: ${JSON.stringify(id)}`);
  const dir = path.join(root, id);
  for (const d of [root, dir]) {
    await mkdir(d, { recursive: true, mode: 0o700 });
    await chmod(d, 0o700);
  }
  return dir;
}
