/**
 * Which sessions are Jupyter servers the kernel picker should list, under which stable id and
 * label, and the last list shown, kept in VS Code's global state. The Jupyter extension drops the
 * notebook controllers of servers that vanish, so after a window reload with the agent not (yet)
 * reachable the last known list is what we answer with.
 */
import type { SessionRecord, TemplateSummary } from '@hpc-jupyter/core';

export interface ServerEntry {
  /** The session id: stable across agent restarts and window reloads. */
  readonly id: string;
  readonly label: string;
}

/** Jupyter servers: the job's connection says so, else its template is of kind `server`. */
export function isJupyterSession(
  record: SessionRecord,
  templates: readonly TemplateSummary[],
): boolean {
  if (record.connection !== undefined) return record.connection.kind === 'jupyter';
  const template = templates.find((t) => t.name === record.template);
  return template === undefined ? record.template === 'jupyter' : template.kind === 'server';
}

/**
 * Listed: ready, or `unknown` after having been ready (the cluster is briefly unreachable; the
 * job may well run on). Queued ones are not: nothing could connect to them yet.
 */
export function isListedServer(record: SessionRecord): boolean {
  return record.state === 'ready' || (record.state === 'unknown' && record.readyAt !== undefined);
}

export function serverLabel(record: SessionRecord): string {
  return record.jobId === undefined ? record.title : `${record.title} · job ${record.jobId}`;
}

export function serverEntries(
  sessions: readonly SessionRecord[],
  templates: readonly TemplateSummary[],
): ServerEntry[] {
  return sessions
    .filter((s) => isJupyterSession(s, templates) && isListedServer(s))
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    .map((s) => ({ id: s.id, label: serverLabel(s) }));
}

export function sameEntries(a: readonly ServerEntry[], b: readonly ServerEntry[]): boolean {
  return a.length === b.length && a.every((e, i) => e.id === b[i]?.id && e.label === b[i].label);
}

/** The part of vscode.Memento used here. */
export interface StateStore {
  get(key: string): unknown;
  update(key: string, value: unknown): Thenable<void>;
}

const KEY = 'hpcJupyter.lastKnownServers';

export class LastKnownServers {
  constructor(private readonly store: StateStore) {}

  get(): ServerEntry[] {
    const value = this.store.get(KEY);
    if (!Array.isArray(value)) return [];
    return value.filter(
      (e): e is ServerEntry =>
        typeof e === 'object' &&
        e !== null &&
        typeof (e as ServerEntry).id === 'string' &&
        typeof (e as ServerEntry).label === 'string',
    );
  }

  async set(entries: readonly ServerEntry[]): Promise<void> {
    if (sameEntries(entries, this.get())) return;
    await this.store.update(KEY, entries);
  }
}
