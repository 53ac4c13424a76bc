/**
 * Polls a Jupyter server's `/api/status` until it answers 200: the moment a user's browser or
 * client could start working. Connection errors (nothing listening yet behind a tunnel) and other
 * statuses mean "not yet".
 */
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProbeOptions {
  readonly token: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** Resolves with Date.now() at the first 200; throws after `timeoutMs`. */
export async function waitForStatus200(url: string, options: ProbeOptions): Promise<number> {
  const deadline = Date.now() + options.timeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const perTry = AbortSignal.timeout(Math.max(1, Math.min(5_000, deadline - Date.now())));
      const response = await fetch(url, {
        headers: { authorization: `token ${options.token}` },
        signal: options.signal === undefined ? perTry : AbortSignal.any([perTry, options.signal]),
      });
      await response.body?.cancel();
      if (response.status === 200) return Date.now();
      last = `HTTP ${response.status}`;
    } catch (error) {
      options.signal?.throwIfAborted();
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= deadline) {
      throw new Error(`${url} did not answer 200 within ${options.timeoutMs} ms (last: ${last})`);
    }
    await sleep(options.intervalMs, undefined, options.signal ? { signal: options.signal } : {});
  }
}

/** `http://127.0.0.1:PORT/sessions/ID/lab?token=...` -> `.../sessions/ID/api/status`. */
export function statusUrlOf(labUrl: string): string {
  const url = new URL(labUrl);
  url.search = '';
  url.pathname = url.pathname.replace(/lab\/?$/, '').replace(/\/?$/, '/') + 'api/status';
  return url.toString();
}
