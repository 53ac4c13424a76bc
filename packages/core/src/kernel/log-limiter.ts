/**
 * Log lines about what peers get wrong (a bad signature, a refused connection, a slow
 * subscriber), at most one per kind every few seconds, with a count of the ones left out: a peer
 * that repeats its mistake a million times must not fill Jupyter's log.
 */

export const LOG_INTERVAL_MS = 10_000;
/** Kinds remembered at most (kinds can carry a peer's words); the longest quiet goes first. */
const MAX_KINDS = 64;

export class LogLimiter {
  /** Per kind: when its last line went out, and how many were left out since. */
  private readonly kinds = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: (line: string) => void,
    private readonly intervalMs = LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `text` unless a line of this `kind` went out less than the interval ago. */
  line(kind: string, text: string): void {
    const now = this.now();
    const last = this.kinds.get(kind);
    if (last !== undefined && now - last.at < this.intervalMs) {
      last.suppressed++;
      return;
    }
    const more =
      last !== undefined && last.suppressed > 0 ? ` (${last.suppressed} more like it)` : '';
    this.kinds.delete(kind);
    if (this.kinds.size >= MAX_KINDS) {
      const oldest = this.kinds.keys().next();
      if (oldest.done !== true) this.kinds.delete(oldest.value);
    }
    this.kinds.set(kind, { at: now, suppressed: 0 });
    this.log(`${text}${more}`);
  }
}
