/**
 * An in-memory SessionService for unit tests of the agent and its clients: records are set by
 * the test, `access()` points at whatever local server the test names as an endpoint, and every
 * change is announced like the real manager does. Never used by the agent itself.
 */
import { randomBytes } from 'node:crypto';
import { InvalidInputError, SessionError, SessionNotFoundError } from '../errors.js';
import { isFinal } from '../schedulers/types.js';
import type {
  AgentEvent,
  EngineAttachment,
  SessionAccess,
  SessionRecord,
  SessionService,
  SessionSpec,
  WaitOptions,
} from '../sessions/types.js';

export function fakeRecord(id: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  const now = new Date().toISOString();
  return {
    id,
    cluster: 'local',
    template: 'jupyter',
    params: {},
    title: `JupyterLab ${id}`,
    jobName: `hpcj-${id}`,
    state: 'queued',
    createdAt: now,
    updatedAt: now,
    ...overrides,
  };
}

/** A ready record whose `jupyter` endpoint is a server on 127.0.0.1:`port`. */
export function readyRecord(id: string, port: number): SessionRecord {
  return fakeRecord(id, {
    state: 'ready',
    connection: {
      kind: 'jupyter',
      endpoints: [{ name: 'jupyter', host: '127.0.0.1', port, basePath: `/sessions/${id}/` }],
    },
  });
}

export class FakeSessionService implements SessionService {
  readonly records = new Map<string, SessionRecord>();
  /** What was called, in order, e.g. "stop s1", for assertions. */
  readonly calls: string[] = [];
  /** Returned (and stored) by the next `discover`. */
  discoverable: SessionRecord[] = [];
  /** Makes the next call of that method throw. */
  failures = new Map<string, Error>();
  closed = false;
  private readonly listeners = new Set<(event: AgentEvent) => void>();

  /** Adds or replaces a record and announces it. */
  put(record: SessionRecord): SessionRecord {
    this.records.set(record.id, record);
    this.emit({ type: 'session', session: record });
    return record;
  }

  update(id: string, changes: Partial<SessionRecord>): SessionRecord {
    return this.put({ ...this.must(id), ...changes, updatedAt: new Date().toISOString() });
  }

  emit(event: AgentEvent): void {
    for (const listener of [...this.listeners]) listener(event);
  }

  list(): readonly SessionRecord[] {
    return [...this.records.values()];
  }

  get(id: string): SessionRecord | undefined {
    return this.records.get(id);
  }

  start(spec: SessionSpec): Promise<SessionRecord> {
    this.note('start', spec.template);
    const id = `s${randomBytes(6).toString('hex')}`;
    return Promise.resolve(
      this.put(
        fakeRecord(id, {
          cluster: spec.cluster,
          template: spec.template,
          params: spec.params ?? {},
          ...(spec.profile === undefined ? {} : { profile: spec.profile }),
        }),
      ),
    );
  }

  stop(id: string): Promise<SessionRecord> {
    this.note('stop', id);
    const record = this.must(id);
    if (isFinal(record.state)) throw new SessionError(`Session ${id} has ended.`, id, record.state);
    return Promise.resolve(this.update(id, { state: 'stopping' }));
  }

  adopt(id: string): Promise<SessionRecord> {
    this.note('adopt', id);
    return Promise.resolve(this.update(id, { discovered: false }));
  }

  remove(id: string): Promise<void> {
    this.note('remove', id);
    const record = this.must(id);
    if (!isFinal(record.state) && record.discovered !== true) {
      throw new SessionError(`Session ${id} is still ${record.state}.`, id, record.state);
    }
    this.records.delete(id);
    this.emit({ type: 'session-removed', id });
    return Promise.resolve();
  }

  discover(cluster: string): Promise<readonly SessionRecord[]> {
    this.note('discover', cluster);
    const found = this.discoverable.splice(0);
    for (const record of found) this.put(record);
    return Promise.resolve(found);
  }

  logs(id: string, options: { readonly lines?: number } = {}): Promise<string> {
    this.note('logs', `${id} ${options.lines ?? 'all'}`);
    this.must(id);
    return Promise.resolve(`log of ${id}\n`);
  }

  waitFor(
    id: string,
    predicate: (s: SessionRecord) => boolean,
    options: WaitOptions = {},
  ): Promise<SessionRecord> {
    const now = this.must(id);
    if (predicate(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const off = this.onEvent((event) => {
        if (event.type === 'session' && event.session.id === id && predicate(event.session)) {
          off();
          resolve(event.session);
        }
      });
      options.signal?.addEventListener('abort', () => {
        off();
        reject(new Error('aborted'));
      });
    });
  }

  access(id: string, endpoint?: string): Promise<SessionAccess> {
    this.note('access', `${id} ${endpoint ?? ''}`);
    const record = this.must(id);
    const endpoints = record.connection?.endpoints ?? [];
    const found =
      endpoint === undefined ? endpoints[0] : endpoints.find((e) => e.name === endpoint);
    if (record.state !== 'ready' || found === undefined) {
      throw new SessionError(`Session ${id} has no endpoint ${endpoint ?? ''}.`, id, record.state);
    }
    return Promise.resolve({
      url: `http://127.0.0.1:${found.port}${found.basePath ?? '/'}`,
      localHost: '127.0.0.1',
      localPort: found.port,
      endpoint: found,
    });
  }

  /** Names the files a real attach would write; writes nothing. */
  attach(id: string): Promise<EngineAttachment> {
    this.note('attach', id);
    const record = this.must(id);
    const kind = record.connection?.kind;
    const first = record.connection?.endpoints[0];
    if (record.state !== 'ready' || first === undefined) {
      throw new SessionError(`Session ${id} is not ready.`, id, record.state);
    }
    const directory = `/fake/attach/${id}`;
    if (kind === 'dask') {
      return Promise.resolve({
        id,
        kind,
        directory,
        dask: {
          address: `tls://127.0.0.1:${first.port}`,
          serverHostname: first.host,
          tls: {
            caFile: `${directory}/dask-ca.pem`,
            certFile: `${directory}/dask-cert.pem`,
            keyFile: `${directory}/dask-key.pem`,
          },
        },
      });
    }
    if (kind === 'ipyparallel') {
      return Promise.resolve({
        id,
        kind,
        directory,
        ipyparallel: { connectionFile: `${directory}/ipcontroller-client.json` },
      });
    }
    const connect = record.connection?.endpoints.find((e) => e.name === 'connect');
    if (kind === 'spark' && connect !== undefined) {
      return Promise.resolve({
        id,
        kind,
        directory,
        spark: {
          remote: `sc://localhost:${connect.port}`,
          tokenFile: `${directory}/spark-connect.token`,
        },
      });
    }
    throw new InvalidInputError(`Session ${id} is not an engine session.`);
  }

  secret(id: string): Promise<string | undefined> {
    return Promise.resolve(this.records.has(id) ? `token-of-${id}` : undefined);
  }

  onEvent(listener: (event: AgentEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  private note(method: string, arg: string): void {
    this.calls.push(`${method} ${arg}`);
    const failure = this.failures.get(method);
    if (failure !== undefined) {
      this.failures.delete(method);
      throw failure;
    }
  }

  private must(id: string): SessionRecord {
    const record = this.records.get(id);
    if (record === undefined) throw new SessionNotFoundError(id);
    return record;
  }
}
