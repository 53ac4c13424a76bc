/**
 * What the extension knows about the agent's world: sessions, pending prompts, clusters and
 * whether they answer, templates and profiles. Fed by the agent's event stream (a snapshot, then
 * changes) and by the answers of direct calls. It keeps its last state when the agent goes away,
 * so views and the Jupyter server list never empty just because the agent is briefly unreachable.
 * No `vscode` here: the tree, status bar and server provider subscribe to `onDidChange`.
 */
import type {
  AgentStreamEvent,
  ClusterInfo,
  ConfigProblemInfo,
  PromptEvent,
  SessionRecord,
  TemplateSummary,
} from '@hpc-jupyter/core';
import { Emitter } from './emitter';
import type { ProfileInfo } from './profiles';

export interface ClusterReachability {
  readonly reachable: boolean;
  readonly error?: string;
}

/** What does not come with the event stream: asked for on every (re)connection. */
export interface CatalogInfo {
  readonly clusters: readonly ClusterInfo[];
  readonly problems: readonly ConfigProblemInfo[];
  readonly templates: readonly TemplateSummary[];
  readonly profiles: readonly ProfileInfo[];
}

export class SessionsModel {
  private readonly sessionMap = new Map<string, SessionRecord>();
  private readonly promptMap = new Map<string, PromptEvent>();
  private readonly reachability = new Map<string, ClusterReachability>();
  private catalogInfo: CatalogInfo = { clusters: [], problems: [], templates: [], profiles: [] };
  private isLive = false;
  private isLoaded = false;
  private lastError: string | undefined;

  private readonly changed = new Emitter<void>();
  private readonly prompted = new Emitter<PromptEvent>();
  private readonly answered = new Emitter<string>();
  private readonly loadedWaiters = new Set<() => void>();

  /** Anything shown changed: sessions, clusters, connection state. */
  readonly onDidChange = this.changed.event;
  /** A new question for the user (also for each pending one in a snapshot). */
  readonly onPrompt = this.prompted.event;
  /** A prompt was answered (maybe by another client) or withdrawn. */
  readonly onPromptAnswered = this.answered.event;

  get sessions(): readonly SessionRecord[] {
    return [...this.sessionMap.values()];
  }

  session(id: string): SessionRecord | undefined {
    return this.sessionMap.get(id);
  }

  get prompts(): readonly PromptEvent[] {
    return [...this.promptMap.values()];
  }

  get catalog(): CatalogInfo {
    return this.catalogInfo;
  }

  clusterState(name: string): ClusterReachability | undefined {
    return this.reachability.get(name);
  }

  /** True while the event stream is attached. */
  get live(): boolean {
    return this.isLive;
  }

  /** True once a snapshot arrived in this window's life: `sessions` then reflects the agent. */
  get loaded(): boolean {
    return this.isLoaded;
  }

  /** Why the agent cannot be reached, while it cannot. */
  get error(): string | undefined {
    return this.lastError;
  }

  /** Resolves when the first snapshot has arrived, or with false after `timeoutMs`. */
  whenLoaded(timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.isLoaded) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.loadedWaiters.delete(onLoaded);
        resolve(value);
      };
      const onLoaded = (): void => {
        finish(true);
      };
      const onAbort = (): void => {
        finish(false);
      };
      const timer = setTimeout(onAbort, timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.loadedWaiters.add(onLoaded);
    });
  }

  apply(event: AgentStreamEvent): void {
    switch (event.type) {
      case 'snapshot': {
        this.sessionMap.clear();
        for (const s of event.sessions) this.sessionMap.set(s.id, s);
        const before = new Set(this.promptMap.keys());
        this.promptMap.clear();
        for (const p of event.prompts) this.promptMap.set(p.id, p);
        for (const id of before) if (!this.promptMap.has(id)) this.answered.fire(id);
        this.isLive = true;
        this.isLoaded = true;
        this.lastError = undefined;
        this.changed.fire();
        for (const p of event.prompts) if (!before.has(p.id)) this.prompted.fire(p);
        for (const waiter of [...this.loadedWaiters]) waiter();
        return;
      }
      case 'session':
        this.upsert(event.session);
        return;
      case 'session-removed':
        if (this.sessionMap.delete(event.id)) this.changed.fire();
        return;
      case 'prompt':
        if (this.promptMap.has(event.prompt.id)) return;
        this.promptMap.set(event.prompt.id, event.prompt);
        this.prompted.fire(event.prompt);
        return;
      case 'prompt-answered':
        this.promptMap.delete(event.id);
        this.answered.fire(event.id);
        return;
      case 'cluster':
        this.reachability.set(event.cluster, {
          reachable: event.reachable,
          ...(event.error === undefined ? {} : { error: event.error }),
        });
        this.changed.fire();
        return;
    }
  }

  /** A record from a direct call (start, stop, status): newer than what we had. */
  upsert(record: SessionRecord): void {
    const known = this.sessionMap.get(record.id);
    // Events and direct answers race; an older record never replaces a newer one.
    if (known !== undefined && known.updatedAt > record.updatedAt) return;
    this.sessionMap.set(record.id, record);
    this.changed.fire();
  }

  setCatalog(info: CatalogInfo): void {
    this.catalogInfo = info;
    this.changed.fire();
  }

  /** The event stream ended or could not be opened; what we know is kept. */
  setDisconnected(error: string | undefined): void {
    if (!this.isLive && error === this.lastError) return;
    this.isLive = false;
    this.lastError = error;
    this.changed.fire();
  }

  dispose(): void {
    this.changed.dispose();
    this.prompted.dispose();
    this.answered.dispose();
  }
}
