/**
 * `hpc-jupyter start TEMPLATE --cluster C [--nodes N] [--hours H] [--param k=v]...`: asks the
 * agent for a session, shows a live line while it queues and starts, and prints the URL (with its
 * token) once the service in the job answers. Ctrl-C while it waits asks whether to cancel.
 */
import { isFinal } from '../schedulers/types.js';
import type { SessionRecord } from '../sessions/types.js';
import { AbortedError, HpcError } from '../errors.js';
import type { AgentClient } from '../agent/agent-client.js';
import { openAgentSession } from './agent-session.js';
import { TerminalPrompter } from './terminal-prompter.js';
import { sessionLine } from './session-format.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import type { CliContext } from './context.js';

export interface StartOptions {
  readonly template: string;
  readonly cluster: string;
  readonly params: Readonly<Record<string, string>>;
  readonly json: boolean;
  /** Return once the job is queued instead of waiting until it is ready. */
  readonly noWait: boolean;
}

export async function startCommand(ctx: CliContext, options: StartOptions): Promise<ExitCode> {
  const agent = await openAgentSession(ctx.signal);
  try {
    let latest = await agent.client.startSession(
      { cluster: options.cluster, template: options.template, params: options.params },
      { signal: ctx.signal },
    );
    ctx.err.write(`Session ${latest.id}: ${latest.title}\n`);
    if (options.noWait) {
      if (options.json) ctx.out.write(`${JSON.stringify(latest, null, 2)}\n`);
      else ctx.err.write(`${sessionLine(latest)}\n`);
      return EXIT.ok;
    }
    const live = ctx.isTerminal && !options.json;
    let shown = '';
    const show = (s: SessionRecord): void => {
      const line = sessionLine(s);
      if (live) ctx.err.write(`\r\x1b[2K${line}`);
      else if (line.replace(/, [0-9:]+ elapsed.*$/, '') !== shown) ctx.err.write(`${line}\n`);
      shown = line.replace(/, [0-9:]+ elapsed.*$/, '');
    };
    const done = new Promise<SessionRecord>((resolve) => {
      const check = (s: SessionRecord): void => {
        if (s.id !== latest.id) return;
        latest = s;
        show(s);
        if (s.state === 'ready' || isFinal(s.state)) resolve(s);
      };
      agent.onSession(check);
      check(latest);
    });
    const ticker = live
      ? setInterval(() => {
          show(latest);
        }, 1000)
      : undefined;
    let final: SessionRecord;
    try {
      final = await abortable(done, ctx.signal);
    } catch (error) {
      if (!(error instanceof AbortedError)) throw error;
      if (live) ctx.err.write('\n');
      return await interrupted(ctx, agent.client, latest);
    } finally {
      if (ticker !== undefined) clearInterval(ticker);
    }
    if (live) ctx.err.write('\n');
    if (final.state !== 'ready') {
      ctx.err.write(
        `Session ${final.id} ended before it was ready: ${final.state}${final.reason === undefined ? '' : ` (${final.reason})`}\n`,
      );
      if (final.logTail !== undefined) ctx.err.write(`Last lines of its log:\n${final.logTail}\n`);
      if (options.json) ctx.out.write(`${JSON.stringify(final, null, 2)}\n`);
      return EXIT.jobFailed;
    }
    return await printAccess(ctx, agent.client, final, options.json);
  } finally {
    agent.close();
  }
}

/** Prints how to reach a ready session: the URL with its token for a Jupyter server. */
export async function printAccess(
  ctx: CliContext,
  client: AgentClient,
  session: SessionRecord,
  json: boolean,
): Promise<ExitCode> {
  const access = await client.access(session.id, { signal: ctx.signal });
  const isJupyter = access.endpoint.name === 'jupyter';
  const url =
    isJupyter && access.token !== undefined ? `${access.url}lab?token=${access.token}` : access.url;
  if (json) {
    ctx.out.write(`${JSON.stringify({ session, url, token: access.token }, null, 2)}\n`);
  } else if (isJupyter) {
    ctx.err.write(`JupyterLab is ready on ${session.nodes?.join(',') ?? session.cluster}. Open:\n`);
    ctx.out.write(`${url}\n`);
  } else {
    ctx.err.write(
      `${access.endpoint.name} is ready on ${session.nodes?.join(',') ?? session.cluster}, reachable at:\n`,
    );
    ctx.out.write(`${access.localHost}:${access.localPort}\n`);
  }
  return EXIT.ok;
}

async function interrupted(
  ctx: CliContext,
  client: AgentClient,
  session: SessionRecord,
): Promise<ExitCode> {
  const job = session.jobId === undefined ? 'its job' : `job ${session.jobId}`;
  const cancel =
    ctx.isTerminal &&
    (await new TerminalPrompter().confirm(`Cancel session ${session.id} (${job})? (yes/no) `));
  if (cancel) {
    await client.stopSession(session.id);
    ctx.err.write(`Cancelled session ${session.id}.\n`);
  } else {
    ctx.err.write(
      `Session ${session.id} goes on. Follow it with \`hpc-jupyter status ${session.id}\`; stop it with \`hpc-jupyter stop ${session.id}\`.\n`,
    );
  }
  return EXIT.interrupted;
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) {
      reject(new AbortedError());
      return;
    }
    const onAbort = (): void => {
      reject(new AbortedError());
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new HpcError(String(e)));
      },
    );
  });
}
