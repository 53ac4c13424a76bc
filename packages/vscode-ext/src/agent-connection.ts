/**
 * The extension's link to the per-user agent. It owns one loop that follows the agent's event
 * stream into the SessionsModel and reconnects (with backoff) when the agent stops or restarts,
 * and it hands out a client for one-off calls, starting the agent on demand. The agent is only
 * started once the user wants something from it (the HPC view, the kernel picker, a command) or
 * when sessions were live last time; until then the loop merely looks for a running one. Calls go
 * through the core's AgentClient, which sends the `X-HPC-Jupyter` header the agent requires.
 */
import type { AgentClient } from '@hpc-jupyter/core';
import type { SessionsModel } from './sessions-model';
import type { ProfileInfo } from './profiles';

/** The part of AgentClient the extension uses; unit tests provide fakes of it. */
export type AgentApi = Pick<
  AgentClient,
  | 'clusters'
  | 'templates'
  | 'templateForm'
  | 'sessions'
  | 'session'
  | 'startSession'
  | 'stopSession'
  | 'adoptSession'
  | 'forgetSession'
  | 'discover'
  | 'logs'
  | 'access'
  | 'answerPrompt'
  | 'events'
>;

/** Finds the running agent, or starts one when `start` is set (see the core's connectAgent). */
export type Connector = (options: {
  readonly start: boolean;
  readonly signal?: AbortSignal;
}) => Promise<AgentApi>;

export interface AgentConnectionOptions {
  readonly connect: Connector;
  readonly model: SessionsModel;
  readonly loadProfiles: (signal: AbortSignal) => Promise<readonly ProfileInfo[]>;
  readonly log: (message: string) => void;
  /** Start the agent without waiting for demand (sessions were live when VS Code last ran). */
  readonly startNow?: boolean;
  /** Pauses between attempts; the last one repeats. */
  readonly retryDelaysMs?: readonly number[];
}

const RETRY_DELAYS_MS = [250, 1000, 2000, 5000, 10_000, 30_000];

export class AgentConnection {
  private wanted: boolean;
  private readonly stopping = new AbortController();
  private wake: (() => void) | undefined;
  private loop: Promise<void> | undefined;

  constructor(private readonly options: AgentConnectionOptions) {
    this.wanted = options.startNow === true;
  }

  /** Starts following the agent; idempotent. */
  start(): void {
    this.loop ??= this.follow();
  }

  /** The user wants the agent: start it if it is not running, and retry at once. */
  demand(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.wake?.();
  }

  /** A client for one call, starting the agent if needed. */
  client(signal?: AbortSignal): Promise<AgentApi> {
    this.demand();
    return this.options.connect({ start: true, ...(signal === undefined ? {} : { signal }) });
  }

  /** Asks again for clusters, templates, profiles and sessions (the tree's Refresh). */
  async refresh(signal?: AbortSignal): Promise<void> {
    const client = await this.client(signal);
    const own = signal ?? new AbortController().signal;
    await this.refreshCatalog(client, own);
    for (const record of await client.sessions({ signal: own })) this.options.model.upsert(record);
  }

  /** Stops following; never stops the agent or any job. */
  async dispose(): Promise<void> {
    this.stopping.abort();
    this.wake?.();
    await this.loop;
  }

  private async follow(): Promise<void> {
    const { model, log } = this.options;
    const delays = this.options.retryDelaysMs ?? RETRY_DELAYS_MS;
    const signal = this.stopping.signal;
    let failures = 0;
    while (!signal.aborted) {
      // Set from the event callback: an object so the check below is not narrowed away.
      const stream = { attached: false };
      try {
        const client = await this.options.connect({ start: this.wanted, signal });
        await this.refreshCatalog(client, signal).catch((err: unknown) => {
          log(`Could not read clusters and templates: ${describe(err)}`);
        });
        await client.events((event) => {
          if (event.type === 'snapshot') stream.attached = true;
          model.apply(event);
        }, signal);
        if (!this.stopped) {
          log('The agent closed the event stream; reconnecting.');
          model.setDisconnected('The agent stopped; reconnecting.');
        }
      } catch (err) {
        if (this.stopped) break;
        model.setDisconnected(describe(err));
      }
      failures = stream.attached ? 0 : failures + 1;
      await this.pause(delays[Math.min(failures, delays.length - 1)] ?? 1000);
    }
  }

  private get stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  private async refreshCatalog(client: AgentApi, signal: AbortSignal): Promise<void> {
    const [clusters, templates, profiles] = await Promise.all([
      client.clusters({ signal }),
      client.templates({ signal }),
      this.options.loadProfiles(signal).catch((err: unknown) => {
        this.options.log(`Could not read profiles: ${describe(err)}`);
        return this.options.model.catalog.profiles;
      }),
    ]);
    this.options.model.setCatalog({
      clusters: clusters.clusters,
      problems: clusters.problems,
      templates,
      profiles,
    });
  }

  /** Waits `ms`, or less when demand() or dispose() wakes the loop. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

/** An error as one message for logs and notifications, with the core's hint when there is one. */
export function describe(err: unknown): string {
  if (err instanceof Error) {
    const describeFn = (err as { describe?: unknown }).describe;
    return typeof describeFn === 'function' ? String(describeFn.call(err)) : err.message;
  }
  return String(err);
}
