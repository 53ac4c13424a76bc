/**
 * Owns the one EventSource on the agent's `/v1/events` and feeds the model. The agent sends a
 * snapshot first on every connection, so after any drop (agent restarted, proxy gone, laptop
 * asleep) reconnecting is enough to be current again; the catalog (clusters, templates) is
 * refetched at the same moment. Reconnects back off up to 30 s and pause while the page is hidden.
 * An EventSource sends no custom header; it needs none: the agent asks `X-HPC-Jupyter` only of
 * state changes, and refuses this GET from any page but JupyterLab's own origin.
 */
import type { AgentApi } from './agent-api.js';
import { AgentApiError } from './agent-api.js';
import type { AgentStreamEvent } from './agent-types.js';
import type { HpcModel } from './hpc-model.js';

export interface EventSourceLike {
  onerror: ((ev: Event) => void) | null;
  readonly readyState: number;
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void;
  close(): void;
}

/** The agent names every event by its type (`event: snapshot`), so each needs a listener. */
export const STREAM_EVENT_TYPES: readonly AgentStreamEvent['type'][] = [
  'snapshot',
  'session',
  'session-removed',
  'prompt',
  'prompt-answered',
  'cluster',
];

export type EventSourceFactory = (url: string) => EventSourceLike;

const CLOSED = 2;
const MAX_BACKOFF_MS = 30_000;

export class EventConnection {
  private source: EventSourceLike | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private backoffMs = 1000;
  private disposed = false;

  constructor(
    private readonly api: AgentApi,
    private readonly model: HpcModel,
    private readonly openSource: EventSourceFactory,
  ) {}

  start(): void {
    this.connect();
  }

  /** Drops the stream and opens a fresh one now (the "refresh" command). */
  reconnect(): void {
    this.backoffMs = 1000;
    this.closeSource();
    this.connect();
  }

  dispose(): void {
    this.disposed = true;
    this.closeSource();
  }

  private connect(): void {
    if (this.disposed) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.loadCatalog();
    const source = this.openSource(this.api.eventsUrl);
    this.source = source;
    const onEvent = (ev: MessageEvent<string>): void => {
      if (this.source !== source) return;
      this.backoffMs = 1000;
      this.model.apply(JSON.parse(ev.data) as AgentStreamEvent);
    };
    for (const type of STREAM_EVENT_TYPES) source.addEventListener(type, onEvent);
    source.onerror = () => {
      // The browser retries on its own after a dropped stream; an HTTP error (the proxy's 502
      // when the agent is down) closes the source for good, so we retry ourselves.
      if (source.readyState !== CLOSED) return;
      this.model.setConnection('down', 'The hpc-jupyter agent cannot be reached.');
      this.closeSource();
      this.timer = setTimeout(() => {
        this.connect();
      }, this.backoffMs);
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    };
  }

  private async loadCatalog(): Promise<void> {
    try {
      const [clusters, templates] = await Promise.all([this.api.clusters(), this.api.templates()]);
      this.model.setCatalog(clusters.clusters, clusters.problems, templates);
    } catch (err) {
      const message = err instanceof AgentApiError ? err.message : String(err);
      this.model.setConnection('down', message);
    }
  }

  private closeSource(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.source !== undefined) {
      this.source.onerror = null;
      this.source.close();
      this.source = undefined;
    }
  }
}
