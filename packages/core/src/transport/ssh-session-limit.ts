/**
 * A counting semaphore for SSH session channels (exec and SFTP) on one connection. OpenSSH
 * refuses more than MaxSessions (default 10) at once, so callers queue here instead of failing;
 * port-forward channels do not count. The limit can be lowered at runtime when a server turns
 * out to allow fewer than we assumed.
 */

import { abortError } from './ssh-abort.js';

export type Release = () => void;

interface Waiter {
  readonly resolve: (release: Release) => void;
  readonly reject: (err: unknown) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

export class SessionLimiter {
  private inUse = 0;
  private readonly waiters: Waiter[] = [];

  constructor(private max: number) {
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`maxSessions must be a positive integer, got ${max}`);
    }
  }

  get active(): number {
    return this.inUse;
  }

  get limit(): number {
    return this.max;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** Resolves with a release function once a slot is free; FIFO, so nobody starves. */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted === true) {
      return Promise.reject(abortError(signal));
    }
    if (this.inUse < this.max && this.waiters.length === 0) {
      this.inUse++;
      return Promise.resolve(this.releaser());
    }
    return new Promise<Release>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          if (signal !== undefined) reject(abortError(signal));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /**
   * Lowers the limit (never below 1) after the server refused a session while `inUse` were
   * open: its real MaxSessions is at most that many.
   */
  lower(to: number): void {
    this.max = Math.max(1, Math.min(this.max, to));
  }

  /** Rejects everything waiting, e.g. when the transport closes. */
  rejectAll(err: unknown): void {
    for (const w of this.waiters.splice(0)) {
      w.signal?.removeEventListener('abort', w.onAbort);
      w.reject(err);
    }
  }

  private releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse--;
      this.pump();
    };
  }

  private pump(): void {
    while (this.inUse < this.max) {
      const w = this.waiters.shift();
      if (w === undefined) return;
      w.signal?.removeEventListener('abort', w.onAbort);
      this.inUse++;
      w.resolve(this.releaser());
    }
  }
}
