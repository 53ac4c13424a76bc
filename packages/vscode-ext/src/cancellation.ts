/**
 * VS Code's CancellationToken bridged to the AbortSignal every core API takes (STYLE.md, 6), and
 * back: an AbortSignal made from a token aborts when the token fires, and the returned dispose
 * releases the token listener once the operation is over.
 */
import type * as vscode from 'vscode';

export interface BridgedSignal {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function signalFromToken(token: vscode.CancellationToken | undefined): BridgedSignal {
  const controller = new AbortController();
  if (token === undefined) return { signal: controller.signal, dispose: () => undefined };
  if (token.isCancellationRequested) {
    controller.abort();
    return { signal: controller.signal, dispose: () => undefined };
  }
  const listener = token.onCancellationRequested(() => {
    controller.abort();
  });
  return {
    signal: controller.signal,
    dispose: () => {
      listener.dispose();
    },
  };
}

/** Runs `task` with a signal bridged from `token`, releasing the bridge when it settles. */
export async function withSignal<T>(
  token: vscode.CancellationToken | undefined,
  task: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const bridged = signalFromToken(token);
  try {
    return await task(bridged.signal);
  } finally {
    bridged.dispose();
  }
}
