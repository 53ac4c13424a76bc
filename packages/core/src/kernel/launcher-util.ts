/** Small promise and error helpers of the launcher. */

/** An error as one line for the notebook: its message and, if it has one, its hint. */
export function describe(error: unknown): string {
  if (error instanceof Error) {
    const hint = (error as { hint?: unknown }).hint;
    return typeof hint === 'string' ? `${error.message} ${hint}` : error.message;
  }
  return String(error);
}

/** `attempt()`, tried up to `times` times `pauseMs` apart (a tunnel can fail once). */
export async function retry<T>(
  attempt: () => Promise<T>,
  times: number,
  pauseMs: number,
): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await attempt();
    } catch (error) {
      if (i >= times) throw error;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}

/** The promise's value, or undefined if it takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      resolve(undefined);
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
