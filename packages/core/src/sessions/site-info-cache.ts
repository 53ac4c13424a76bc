/**
 * Site info (partitions, accounts, QOS) per cluster for validating launch parameters, fetched at
 * most once per TTL and shared by concurrent starts. Best effort by design: a start never fails or
 * waits long because site info could not be had; it validates without it instead.
 */
import type { Scheduler, SiteInfo } from '../schedulers/types.js';

export interface SiteInfoCacheOptions {
  /** How long an answer is kept. Default 5 minutes. */
  readonly ttlMs?: number;
  /** How long a failure is remembered, so a broken command is not re-run on every start. */
  readonly failureTtlMs?: number;
  /** How long a start waits for it. Default 10 s. */
  readonly waitMs?: number;
}

interface Entry {
  readonly promise: Promise<SiteInfo | undefined>;
  expires: number;
}

export class SiteInfoCache {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly failureTtlMs: number;
  private readonly waitMs: number;

  constructor(options: SiteInfoCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.failureTtlMs = options.failureTtlMs ?? 30_000;
    this.waitMs = options.waitMs ?? 10_000;
  }

  /** The cluster's site info, or undefined when it failed or takes too long. */
  async get(
    cluster: string,
    scheduler: Scheduler,
    signal?: AbortSignal,
  ): Promise<SiteInfo | undefined> {
    let entry = this.entries.get(cluster);
    if (entry === undefined || entry.expires < Date.now()) {
      entry = this.fetch(scheduler);
      this.entries.set(cluster, entry);
    }
    return raceWith(entry.promise, this.waitMs, signal);
  }

  clear(): void {
    this.entries.clear();
  }

  private fetch(scheduler: Scheduler): Entry {
    // Not the caller's signal: the answer is shared, and one impatient caller must not spoil it.
    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort();
    }, 60_000);
    timer.unref();
    const entry: Entry = {
      expires: Number.POSITIVE_INFINITY,
      promise: scheduler.siteInfo({ signal: controller.signal }).then(
        (info) => {
          entry.expires = Date.now() + this.ttlMs;
          return info;
        },
        () => {
          entry.expires = Date.now() + this.failureTtlMs;
          return undefined;
        },
      ),
    };
    void entry.promise.finally(() => {
      clearTimeout(timer);
    });
    return entry;
  }
}

function raceWith<T>(
  promise: Promise<T | undefined>,
  ms: number,
  signal: AbortSignal | undefined,
): Promise<T | undefined> {
  return new Promise((resolve) => {
    const done = (value: T | undefined): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(value);
    };
    const onAbort = (): void => {
      done(undefined);
    };
    const timer = setTimeout(onAbort, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    void promise.then(done);
  });
}
