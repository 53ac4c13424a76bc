/**
 * `hpc-jupyter agent`: runs the per-user agent in the foreground until it is idle, asked to
 * stop, or signalled. Clients start it this way on demand (see agent/connect-agent.ts).
 */
import { runAgent } from '../agent/agent-main.js';
import { describeError } from '../agent/agent-log.js';
import { SessionManager } from '../sessions/session-manager.js';
import { templateRenderer } from '../sessions/job-renderer.js';
import { templatesDir } from './templates-dir.js';
import { EXIT, type ExitCode } from './exit-codes.js';
import { AgentClient } from '../agent/agent-client.js';
import { agentAnswers } from '../agent/connect-agent.js';
import type { CliContext } from './context.js';

export async function agentCommand(err: NodeJS.WritableStream): Promise<ExitCode> {
  const reason = await runAgent({
    createSessions: ({ clusters, log }) =>
      SessionManager.open({
        clusters,
        renderer: templateRenderer(templatesDir()),
        onProblem: (error) => {
          log.warn(describeError(error));
        },
        onPoll: (report) => {
          if (report.error !== undefined)
            log.warn(`poll ${report.cluster}: ${describeError(report.error)}`);
        },
      }),
  });
  err.write(`hpc-jupyter agent stopped (${reason}).\n`);
  return EXIT.ok;
}

/** `hpc-jupyter agent stop`: asks a running agent to stop; its sessions' jobs keep running. */
export async function agentStopCommand(ctx: CliContext): Promise<ExitCode> {
  const client = new AgentClient();
  if (!(await agentAnswers(client, ctx.signal))) {
    ctx.err.write('No agent is running.\n');
    return EXIT.ok;
  }
  await client.shutdown({ signal: ctx.signal });
  ctx.err.write('The agent is stopping; running sessions are picked up when it starts again.\n');
  return EXIT.ok;
}
