/**
 * What the launcher answers itself while there is no remote kernel yet (the job is queued or
 * starting, or the kernel restarts): enough of a kernel for JupyterLab and VS Code to consider it
 * alive. Requests with effects (execute, comms) are held for the real kernel; requests that only
 * ask something get an empty, honest answer at once. Pure.
 */
import { PROTOCOL_VERSION } from './wire.js';

export type StandInAnswer =
  | { readonly kind: 'reply'; readonly msgType: string; readonly content: object }
  | { readonly kind: 'hold' };

export interface StandInContext {
  /** Shown as the kernel's banner, e.g. "hpc-jupyter: Slurm 4-node Python on testlab". */
  readonly banner: string;
  readonly version: string;
}

export function kernelInfoContent(ctx: StandInContext): object {
  return {
    status: 'ok',
    protocol_version: PROTOCOL_VERSION,
    implementation: 'hpc-jupyter',
    implementation_version: ctx.version,
    language_info: {
      name: 'python',
      version: '3',
      mimetype: 'text/x-python',
      file_extension: '.py',
      pygments_lexer: 'ipython3',
      codemirror_mode: { name: 'ipython', version: 3 },
      nbconvert_exporter: 'python',
    },
    banner: ctx.banner,
    help_links: [],
    debugger: false,
  };
}

/** The answer to a shell or control request that arrived while no remote kernel is connected. */
export function standInAnswer(
  msgType: string,
  content: Readonly<Record<string, unknown>>,
  ctx: StandInContext,
): StandInAnswer {
  const reply = (c: object): StandInAnswer => ({
    kind: 'reply',
    msgType: msgType.replace(/_request$/, '_reply'),
    content: c,
  });
  switch (msgType) {
    case 'kernel_info_request':
      return reply(kernelInfoContent(ctx));
    case 'comm_info_request':
      return reply({ status: 'ok', comms: {} });
    case 'complete_request': {
      const pos = typeof content['cursor_pos'] === 'number' ? content['cursor_pos'] : 0;
      return reply({ status: 'ok', matches: [], cursor_start: pos, cursor_end: pos, metadata: {} });
    }
    case 'inspect_request':
      return reply({ status: 'ok', found: false, data: {}, metadata: {} });
    case 'history_request':
      return reply({ status: 'ok', history: [] });
    case 'is_complete_request':
      return reply({ status: 'unknown' });
    default:
      // execute_request, comm_*, and anything we do not know: the real kernel decides.
      return { kind: 'hold' };
  }
}

/** An execute request whose output nobody wants to see (`silent`) gets no waiting message. */
export function isSilent(content: Readonly<Record<string, unknown>>): boolean {
  return content['silent'] === true;
}

/** The content of an error reply, and of the matching `error` output. */
export function errorContent(
  ename: string,
  evalue: string,
  executionCount: number,
): { reply: object; output: object } {
  const traceback = [`${ename}: ${evalue}`];
  return {
    reply: { status: 'error', ename, evalue, traceback, execution_count: executionCount },
    output: { ename, evalue, traceback },
  };
}
