/**
 * Cancellation plumbing shared by the SSH modules: one signal that fires for the caller's
 * AbortSignal, the transport closing, or a deadline, and the typed error it should produce.
 */

import { AbortedError, HpcError, type TimeoutError } from '../errors.js';

/** The error a cancelled operation rejects with: the signal's own HpcError reason if any. */
export function abortError(signal: AbortSignal): HpcError {
  const reason: unknown = signal.reason;
  return reason instanceof HpcError ? reason : new AbortedError(undefined, { cause: reason });
}

/**
 * Combines signals (the caller's, the transport's lifetime) with a timeout into one signal whose
 * reason is the first source's HpcError, an AbortedError, or a TimeoutError when time ran out.
 * `dispose` clears the timer and listeners.
 */
export function withDeadline(
  signals: readonly (AbortSignal | undefined)[],
  timeoutMs: number | undefined,
  onTimeout: () => TimeoutError,
): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const sources = signals.filter((s): s is AbortSignal => s !== undefined);
  const listeners = sources.map((source) => {
    const listener = (): void => {
      controller.abort(abortError(source));
    };
    if (source.aborted) listener();
    else source.addEventListener('abort', listener, { once: true });
    return { source, listener };
  });
  const timer =
    timeoutMs === undefined || timeoutMs <= 0 || !Number.isFinite(timeoutMs)
      ? undefined
      : setTimeout(() => {
          controller.abort(onTimeout());
        }, timeoutMs);
  return {
    signal: controller.signal,
    dispose() {
      if (timer !== undefined) clearTimeout(timer);
      for (const { source, listener } of listeners) source.removeEventListener('abort', listener);
    },
  };
}

/** Resolves or rejects with `promise`, or rejects with abortError(signal) once it fires. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

/** Waits `ms`, or rejects with abortError(signal) as soon as it fires. */
export function delay(ms: number, signal: AbortSignal): Promise<void> {
  return raceAbort(
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener(
        'abort',
        () => {
          clearTimeout(timer);
        },
        { once: true },
      );
    }),
    signal,
  );
}
