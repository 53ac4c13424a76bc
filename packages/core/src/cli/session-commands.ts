/**
 * The session commands that act on what the agent already knows: list, status, logs, open,
 * stop, adopt, and the templates on offer. Each one is a few calls to the agent.
 */
import { pathToFileURL } from 'node:url';
import { isFinal } from '../schedulers/types.js';
import type { SessionRecord } from '../sessions/types.js';
import { connectAgent } from '../agent/connect-agent.js';
import { openAgentSession } from './agent-session.js';
import { openInBrowser } from './browser-page.js';
import { formatTable, type CliContext } from './context.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { sessionDetails, timeLeft } from './session-format.js';
import { printAccess } from './start-command.js';
import { formatElapsed } from './format.js';

export async function listCommand(
  ctx: CliContext,
  json: boolean,
  cluster?: string,
): Promise<ExitCode> {
  const agent = await openAgentSession(ctx.signal);
  try {
    if (cluster !== undefined) await agent.client.discover(cluster, { signal: ctx.signal });
    const sessions = [...(await agent.client.sessions({ signal: ctx.signal }))].sort((a, b) =>
      a.createdAt.localeCompare(b.createdAt),
    );
    if (json) {
      ctx.out.write(`${JSON.stringify(sessions, null, 2)}\n`);
      return EXIT.ok;
    }
    if (sessions.length === 0) {
      ctx.err.write('No sessions. Start one with `hpc-jupyter start jupyter --cluster local`.\n');
      return EXIT.ok;
    }
    const rows = [['ID', 'STATE', 'CLUSTER', 'TEMPLATE', 'JOB', 'NODES', 'AGE', 'LEFT', 'REASON']];
    for (const s of sessions) {
      rows.push([
        s.discovered === true ? `${s.id} (discovered)` : s.id,
        s.state,
        s.cluster,
        s.template,
        s.jobId ?? '-',
        s.nodes?.join(',') ?? '-',
        formatElapsed(Date.now() - Date.parse(s.createdAt)),
        timeLeft(s) ?? '-',
        s.state === 'ready' ? '' : (s.reason ?? ''),
      ]);
    }
    ctx.out.write(`${formatTable(rows)}\n`);
    return EXIT.ok;
  } finally {
    agent.close();
  }
}

export async function statusCommand(ctx: CliContext, id: string, json: boolean): Promise<ExitCode> {
  const client = await connectAgent({ start: true, signal: ctx.signal });
  const session = await client.session(id, { signal: ctx.signal });
  ctx.out.write(json ? `${JSON.stringify(session, null, 2)}\n` : sessionDetails(session));
  return EXIT.ok;
}

export async function logsCommand(
  ctx: CliContext,
  id: string,
  follow: boolean,
  lines: number,
): Promise<ExitCode> {
  const client = await connectAgent({ start: true, signal: ctx.signal });
  let previous = await client.logs(id, { lines, signal: ctx.signal });
  ctx.out.write(previous);
  if (!follow) return EXIT.ok;
  for (;;) {
    await new Promise((r) => setTimeout(r, 2000));
    if (ctx.signal.aborted) return EXIT.ok;
    const session = await client.session(id, { signal: ctx.signal });
    const text = await client.logs(id, { lines: 1000, signal: ctx.signal });
    ctx.out.write(newText(previous, text));
    previous = text;
    if (isFinal(session.state)) return EXIT.ok;
  }
}

/** The part of `next` not already printed: the lines after the overlap with `previous`. */
export function newText(previous: string, next: string): string {
  if (next.startsWith(previous)) return next.slice(previous.length);
  const lines = previous.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const tail = lines.slice(i).join('\n');
    if (tail !== '' && next.startsWith(tail)) return next.slice(tail.length);
  }
  return next;
}

export async function openCommand(ctx: CliContext, id: string, json: boolean): Promise<ExitCode> {
  const client = await connectAgent({ start: true, signal: ctx.signal });
  const session = await client.session(id, { signal: ctx.signal });
  if (session.state !== 'ready') {
    ctx.err.write(
      `Session ${id} is ${session.state}, not ready yet; \`hpc-jupyter status ${id}\` says why.\n`,
    );
    return EXIT.error;
  }
  const code = await printAccess(ctx, client, session, json);
  const display = process.env.DISPLAY ?? process.env.WAYLAND_DISPLAY;
  if (!json && display !== undefined && display !== '') {
    const access = await client.access(id, { signal: ctx.signal });
    const url =
      access.token === undefined
        ? access.url
        : `${access.url}lab?token=${encodeURIComponent(access.token)}`;
    // Never `xdg-open URL`: the browser's argv (and xdg-open's) is public in `ps` on a shared
    // desktop. The browser gets the path of a 0600 redirect page in the agent's 0700 directory.
    const page = await openInBrowser(url, process.env);
    ctx.err.write(`Opening ${pathToFileURL(page).href} in the browser.\n`);
  }
  return code;
}

export async function stopCommand(ctx: CliContext, id: string, json: boolean): Promise<ExitCode> {
  const agent = await openAgentSession(ctx.signal);
  try {
    const stopping = await agent.client.stopSession(id, { signal: ctx.signal });
    const final = await new Promise<SessionRecord>((resolve) => {
      const timer = setTimeout(() => {
        resolve(stopping);
      }, 60_000);
      const check = (s: SessionRecord): void => {
        if (s.id === id && isFinal(s.state)) {
          clearTimeout(timer);
          resolve(s);
        }
      };
      agent.onSession(check);
      check(stopping);
    });
    if (json) ctx.out.write(`${JSON.stringify(final, null, 2)}\n`);
    else
      ctx.err.write(
        `Session ${id}: ${final.state}${isFinal(final.state) ? '' : ' (the scheduler has not confirmed yet)'}\n`,
      );
    return EXIT.ok;
  } finally {
    agent.close();
  }
}

export async function adoptCommand(ctx: CliContext, id: string): Promise<ExitCode> {
  const client = await connectAgent({ start: true, signal: ctx.signal });
  const session = await client.adoptSession(id, { signal: ctx.signal });
  ctx.err.write(`Adopted ${session.id} (job ${session.jobId ?? '?'} on ${session.cluster}).\n`);
  return EXIT.ok;
}

export async function templatesCommand(ctx: CliContext, json: boolean): Promise<ExitCode> {
  const client = await connectAgent({ start: true, signal: ctx.signal });
  const templates = await client.templates({ signal: ctx.signal });
  if (json) {
    ctx.out.write(`${JSON.stringify(templates, null, 2)}\n`);
    return EXIT.ok;
  }
  const rows = [['NAME', 'KIND', 'TITLE']];
  for (const t of templates) rows.push([t.name, t.kind, t.title]);
  ctx.out.write(`${formatTable(rows)}\n`);
  return EXIT.ok;
}

/**
 * `connect ID`: what a client on this machine needs to use the session's Dask, ipyparallel or
 * Spark (Connect) cluster: a loopback address (the agent keeps the forwards open while the session runs) and the
 * client files it copied into a private directory, with Python that connects. Prints file names,
 * never a secret.
 */
export async function connectCommand(
  ctx: CliContext,
  id: string,
  json: boolean,
): Promise<ExitCode> {
  const client = await connectAgent({ start: true, signal: ctx.signal });
  const attached = await client.attach(id, { signal: ctx.signal });
  if (json) {
    ctx.out.write(`${JSON.stringify(attached, null, 2)}\n`);
    return EXIT.ok;
  }
  const py = (s: string): string => JSON.stringify(s);
  const lines: string[] = [];
  if (attached.dask !== undefined) {
    const { address, tls, serverHostname, dashboardUrl } = attached.dask;
    const rows = [
      ['scheduler', address],
      ...(serverHostname === undefined ? [] : [['server name', serverHostname]]),
      ['CA', tls.caFile],
      ['certificate', tls.certFile],
      ['key', tls.keyFile],
      ...(dashboardUrl === undefined ? [] : [['dashboard', dashboardUrl]]),
    ];
    lines.push(`Dask cluster of session ${id}:`, formatTable(rows), '');
    lines.push("In Python, with hpc-jupyter's package (templates/python) installed:");
    lines.push(`  from hpc_jupyter.client import dask; client = dask(${py(id)})`);
    lines.push('or with distributed alone:');
    lines.push('  from distributed import Client');
    lines.push('  from distributed.security import Security');
    lines.push(
      `  client = Client(${py(address)}, security=Security(tls_ca_file=${py(tls.caFile)},`,
      `      tls_client_cert=${py(tls.certFile)}, tls_client_key=${py(tls.keyFile)},`,
      '      require_encryption=True))',
    );
  } else if (attached.ipyparallel !== undefined) {
    const file = attached.ipyparallel.connectionFile;
    lines.push(`ipyparallel cluster of session ${id}:`, formatTable([['client file', file]]), '');
    lines.push('In Python:');
    lines.push(`  import ipyparallel; rc = ipyparallel.Client(${py(file)})`);
    lines.push(`or: from hpc_jupyter.client import ipyparallel; rc = ipyparallel(${py(id)})`);
  } else if (attached.spark !== undefined) {
    const { remote, tokenFile } = attached.spark;
    lines.push(
      `Spark Connect server of session ${id}:`,
      formatTable([
        ['remote', remote],
        ['token file', tokenFile],
      ]),
      '',
    );
    lines.push("In Python, with hpc-jupyter's package (templates/python) installed:");
    lines.push(`  from hpc_jupyter.client import spark as hpc_spark; spark = hpc_spark(${py(id)})`);
    lines.push('or with pyspark[connect] alone:');
    lines.push('  from pyspark.sql import SparkSession');
    lines.push(`  token = open(${py(tokenFile)}).read().strip()`);
    lines.push(
      `  spark = SparkSession.builder.remote(${py(remote)} + "/;token=" + token).getOrCreate()`,
    );
  }
  lines.push('', 'The agent keeps these forwards open while the session runs.');
  ctx.out.write(`${lines.join('\n')}\n`);
  return EXIT.ok;
}
