/**
 * Drives a real Jupyter server the way JupyterLab does, with @jupyterlab/services: start a
 * kernel through the REST API, execute code over its WebSocket, collect what it prints.
 */
import { type Kernel, KernelManager } from '@jupyterlab/services';
import { serverSettingsFor } from './jupyter-server.js';

export interface ExecuteResult {
  readonly stdout: string;
  /** What it wrote to stderr, and its error (`ename: evalue`) if it raised. */
  readonly stderr: string;
  /** The text/plain of the execute_result, if any. */
  readonly result: string | undefined;
  readonly status: string;
}

/** Executes `code` on a connected kernel; its execute_result as text/plain, and what it printed. */
export async function execute(
  kernel: Kernel.IKernelConnection,
  code: string,
): Promise<ExecuteResult> {
  let stdout = '';
  let stderr = '';
  let result: string | undefined;
  const future = kernel.requestExecute({ code });
  future.onIOPub = (msg) => {
    const content = msg.content as {
      name?: string;
      text?: string;
      data?: Record<string, unknown>;
      ename?: string;
      evalue?: string;
    };
    if (msg.header.msg_type === 'stream' && content.name === 'stdout') stdout += content.text ?? '';
    if (msg.header.msg_type === 'stream' && content.name === 'stderr') stderr += content.text ?? '';
    if (msg.header.msg_type === 'error') stderr += `${content.ename}: ${content.evalue}\n`;
    if (msg.header.msg_type === 'execute_result') {
      const text = content.data?.['text/plain'];
      result = typeof text === 'string' ? text : JSON.stringify(text);
    }
  };
  const reply = await future.done;
  return { stdout, stderr, result, status: reply.content.status };
}

/** Starts a kernel on the server at `baseUrl`, runs `code`, shuts the kernel down. */
export async function executeOnServer(
  baseUrl: string,
  token: string,
  code: string,
): Promise<ExecuteResult> {
  const serverSettings = serverSettingsFor(baseUrl, token);
  const manager = new KernelManager({ serverSettings });
  await manager.ready;
  const kernel = await manager.startNew({ name: 'python3' });
  try {
    return await execute(kernel, code);
  } finally {
    await kernel.shutdown().catch(() => undefined);
    manager.dispose();
  }
}
