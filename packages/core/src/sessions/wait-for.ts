/**
 * Waiting for a session to reach a condition: resolves at once if it holds already, else on the
 * first announced record that satisfies it; rejects, with the log tail, when the session ends
 * without satisfying it, and on timeout, abort, removal or the manager closing. Owns nothing
 * beyond its own listener and timer, which it always releases.
 */
import { AbortedError, SessionEndedError, SessionNotFoundError, TimeoutError } from '../errors.js';
import { isFinal } from '../schedulers/types.js';
import type { AgentEvent, SessionRecord, WaitOptions } from './types.js';

export interface WaitSource {
  get(id: string): SessionRecord | undefined;
  onEvent(listener: (event: AgentEvent) => void): () => void;
  /** Fires when the manager closes: nothing will change any more. */
  readonly closed: AbortSignal;
}

export function waitForSession(
  source: WaitSource,
  id: string,
  predicate: (s: SessionRecord) => boolean,
  options: WaitOptions = {},
): Promise<SessionRecord> {
  return new Promise<SessionRecord>((resolve, reject) => {
    const { signal, timeout } = options;
    let timer: NodeJS.Timeout | undefined;
    let unsubscribe: () => void = () => undefined;
    const done = (error: Error | undefined, record?: SessionRecord): true => {
      unsubscribe();
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      source.closed.removeEventListener('abort', onClosed);
      if (error !== undefined) reject(error);
      else resolve(record as SessionRecord);
      return true;
    };
    const check = (record: SessionRecord | undefined): boolean => {
      if (record === undefined) return done(new SessionNotFoundError(id));
      if (predicate(record)) return done(undefined, record);
      if (isFinal(record.state)) return done(endedError(record));
      return false;
    };
    const onAbort = (): void => {
      done(new AbortedError(`Stopped waiting for session ${id}.`, { cause: signal?.reason }));
    };
    const onClosed = (): void => {
      done(new AbortedError(`Stopped waiting for session ${id}: the session manager closed.`));
    };
    if (signal?.aborted === true) {
      onAbort();
      return;
    }
    if (check(source.get(id))) return;
    if (source.closed.aborted) {
      onClosed();
      return;
    }
    unsubscribe = source.onEvent((event) => {
      if (event.type === 'session' && event.session.id === id) check(event.session);
      else if (event.type === 'session-removed' && event.id === id) check(undefined);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    source.closed.addEventListener('abort', onClosed, { once: true });
    if (timeout !== undefined) {
      timer = setTimeout(() => {
        const state = source.get(id)?.state ?? 'gone';
        done(
          new TimeoutError(
            `Session ${id} did not get there within ${timeout} ms (it is ${state}).`,
          ),
        );
      }, timeout);
    }
  });
}

/** The error for a session that ended before what was waited for: says why, shows the log. */
export function endedError(record: SessionRecord): SessionEndedError {
  const why = record.reason === undefined ? '' : `: ${record.reason}`;
  const log = record.logTail === undefined ? '' : `\nLast lines of its log:\n${record.logTail}`;
  return new SessionEndedError(
    `Session ${record.id} ended (${record.state})${why}.${log}`,
    record.id,
    record.state,
    {
      ...(record.logTail === undefined ? {} : { logTail: record.logTail }),
      hint: `See the whole log with: hpc-jupyter logs ${record.id}`,
    },
  );
}
