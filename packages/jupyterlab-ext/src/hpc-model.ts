/**
 * The sidebar's state without any DOM: clusters (with config problems and reachability),
 * templates, sessions and open prompts, kept current from the agent's event stream. The stream's
 * first event is a snapshot, so a reconnect (agent restart, page reload) replaces everything and
 * sessions started elsewhere (CLI, VS Code, kernels) show up like our own.
 */
import type {
  AgentStreamEvent,
  ClusterInfo,
  PromptEvent,
  SessionRecord,
  TemplateSummary,
} from './agent-types.js';
import type { ConfigProblemInfo } from '@hpc-jupyter/core';

export type Connection = 'connecting' | 'live' | 'down';

export interface ClusterStatus {
  readonly reachable: boolean;
  readonly error?: string;
}

export type Listener = () => void;

export class HpcModel {
  private sessionMap = new Map<string, SessionRecord>();
  private promptMap = new Map<string, PromptEvent>();
  private readonly listeners = new Set<Listener>();
  private readonly promptListeners = new Set<(p: PromptEvent) => void>();
  private clusterList: readonly ClusterInfo[] = [];
  private problemList: readonly ConfigProblemInfo[] = [];
  private templateList: readonly TemplateSummary[] = [];
  private readonly reach = new Map<string, ClusterStatus>();
  private state: Connection = 'connecting';
  private lastError: string | undefined;

  get connection(): Connection {
    return this.state;
  }

  /** Why the agent cannot be reached, while `connection` is 'down'. */
  get error(): string | undefined {
    return this.lastError;
  }

  get clusters(): readonly ClusterInfo[] {
    return this.clusterList;
  }

  get problems(): readonly ConfigProblemInfo[] {
    return this.problemList;
  }

  get templates(): readonly TemplateSummary[] {
    return this.templateList;
  }

  clusterStatus(name: string): ClusterStatus | undefined {
    return this.reach.get(name);
  }

  /** Newest first: what the user just launched is on top. */
  get sessions(): readonly SessionRecord[] {
    return [...this.sessionMap.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  }

  session(id: string): SessionRecord | undefined {
    return this.sessionMap.get(id);
  }

  get prompts(): readonly PromptEvent[] {
    return [...this.promptMap.values()];
  }

  /** Called on every change; returns the unsubscribe function. */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called once per new prompt (not again for the same id). */
  onPrompt(listener: (p: PromptEvent) => void): () => void {
    this.promptListeners.add(listener);
    return () => this.promptListeners.delete(listener);
  }

  setCatalog(
    clusters: readonly ClusterInfo[],
    problems: readonly ConfigProblemInfo[],
    templates: readonly TemplateSummary[],
  ): void {
    this.clusterList = clusters;
    this.problemList = problems;
    this.templateList = templates;
    this.emit();
  }

  setConnection(state: Connection, error?: string): void {
    this.state = state;
    this.lastError = state === 'down' ? error : undefined;
    this.emit();
  }

  /** Applies one event of the stream. */
  apply(event: AgentStreamEvent): void {
    switch (event.type) {
      case 'snapshot': {
        this.sessionMap = new Map(event.sessions.map((s) => [s.id, s]));
        const before = this.promptMap;
        this.promptMap = new Map(event.prompts.map((p) => [p.id, p]));
        this.state = 'live';
        this.lastError = undefined;
        for (const p of event.prompts) if (!before.has(p.id)) this.announce(p);
        break;
      }
      case 'session':
        this.sessionMap.set(event.session.id, event.session);
        break;
      case 'session-removed':
        this.sessionMap.delete(event.id);
        break;
      case 'prompt':
        if (this.promptMap.has(event.prompt.id)) return;
        this.promptMap.set(event.prompt.id, event.prompt);
        this.announce(event.prompt);
        break;
      case 'prompt-answered':
        this.promptMap.delete(event.id);
        break;
      case 'cluster':
        this.reach.set(event.cluster, {
          reachable: event.reachable,
          ...(event.error === undefined ? {} : { error: event.error }),
        });
        break;
    }
    this.emit();
  }

  /** True while the prompt is still open (no client answered it yet). */
  promptOpen(id: string): boolean {
    return this.promptMap.has(id);
  }

  dispose(): void {
    this.listeners.clear();
    this.promptListeners.clear();
  }

  private announce(prompt: PromptEvent): void {
    for (const l of this.promptListeners) l(prompt);
  }

  private emit(): void {
    for (const l of this.listeners) l();
  }
}
